//! The messages and service of `cli/proto`, generated at build time
//! (build.rs), nested as their protobuf packages so that the generated
//! cross-package paths resolve.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

pub mod dapr {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.common.v1");
            }
        }
        pub mod runtime {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.runtime.v1");
            }
        }
    }
}

/// The encoded descriptor set of the protos, for gRPC reflection.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dapr_descriptor.bin"));
