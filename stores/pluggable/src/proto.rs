//! The messages, clients and servers of `proto/`, generated at build time
//! (build.rs), nested as their protobuf package.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

pub mod dapr {
    pub mod proto {
        pub mod components {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.components.v1");
            }
        }
    }
}

pub mod statestore {
    pub mod v1 {
        tonic::include_proto!("statestore.v1");
    }
}

pub use dapr::proto::components::v1::*;

/// The encoded descriptor set of the protos, for gRPC reflection.
pub const DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/components_descriptor.bin"));

/// The services a socket may list, by full name.
pub mod services {
    /// Get, set, delete, bulk calls, Init, Features and Ping.
    pub const STATE: &str = "dapr.proto.components.v1.StateStore";
    /// Transact.
    pub const TRANSACTIONAL: &str = "dapr.proto.components.v1.TransactionalStateStore";
    /// Query.
    pub const QUERIABLE: &str = "dapr.proto.components.v1.QueriableStateStore";
    /// MultiMaxSize.
    pub const MULTI_MAX_SIZE: &str = "dapr.proto.components.v1.TransactionalStoreMultiMaxSize";
    /// statestore's DeleteWithPrefix and KeysLike (daprd ignores it).
    pub const EXTENSIONS: &str = "statestore.v1.StateStoreExtensions";
}
