//! The client's calls: connecting to a socket and discovering it as daprd
//! does (reflection v1alpha ListServices, Init, Features, MultiMaxSize).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use hyper_util::rt::TokioIo;
use statestore_core::{Capabilities, Error, Features, Properties, Result};
use tokio::net::UnixStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

use crate::proto::{self as pb, services};
use crate::serve::MAX_MESSAGE;
use crate::{CLOSE_HEADER, INSTANCE_HEADER, OUTCOMES_HEADER};

/// One component instance over its socket.
pub(crate) struct Core {
    channel: Channel,
    instance: MetadataValue<Ascii>,
    /// What the component offers: its Features the socket can carry, and
    /// the limits MultiMaxSize answered.
    pub caps: Capabilities,
    /// Whether its query takes a key prefix (statestore's servers).
    pub key_prefix: bool,
}

/// Room kept in a message for a value's key and metadata.
const VALUE_HEADROOM: usize = 64 << 10;

/// A channel to a component's socket, as daprd opens it: the authority is
/// `localhost`, as daprd's Go client sends over a Unix socket.
pub async fn connect(socket: &Path) -> Result<Channel> {
    let path: PathBuf = socket.to_owned();
    // A failed bulk write's trailers hold every item's outcome.
    let header_list = u32::try_from(MAX_MESSAGE).unwrap_or(u32::MAX);
    Endpoint::from_static("http://localhost")
        .http2_max_header_list_size(header_list)
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(|e| {
            Error::unavailable(format!("cannot connect to the socket {}", socket.display()))
                .with_source(e)
        })
}

/// The services of the socket, through reflection v1alpha.
async fn list_services(channel: Channel) -> Result<Vec<String>, Status> {
    let mut client = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([ask]))
        .await?
        .into_inner();
    match answers.next().await {
        Some(Ok(answer)) => match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                Ok(list.service.into_iter().map(|s| s.name).collect())
            }
            Some(MessageResponse::ErrorResponse(e)) => Err(Status::new(
                tonic::Code::from_i32(e.error_code),
                e.error_message,
            )),
            _ => Err(Status::internal("reflection answered no service list")),
        },
        Some(Err(s)) => Err(s),
        None => Err(Status::internal("reflection answered nothing")),
    }
}

impl Core {
    /// Connects, discovers, initialises and reads the features.
    pub(crate) async fn open(
        socket: &Path,
        instance: MetadataValue<Ascii>,
        init: &Properties,
    ) -> Result<Core> {
        let channel = connect(socket).await?;
        let shown = socket.display();
        let services = list_services(channel.clone()).await.map_err(|s| {
            crate::error::error(&s).map_message(|m| {
                format!("{shown}: reflection v1alpha ListServices failed (daprd discovers sockets with it): {m}")
            })
        })?;
        if !services.iter().any(|s| s == services::STATE) {
            return Err(Error::config(format!(
                "{shown} does not serve {}; it lists: {}",
                services::STATE,
                services.join(", ")
            )));
        }
        let mut core = Core {
            channel,
            instance,
            caps: Capabilities::new(Features::NONE),
            key_prefix: false,
        };
        let properties = init
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let init = pb::InitRequest {
            metadata: Some(pb::MetadataRequest { properties }),
        };
        core.state()
            .init(core.request(init))
            .await
            .map_err(|s| crate::error::error(&s).map_message(|m| format!("{shown}: Init: {m}")))?;
        let names = core
            .state()
            .features(core.request(pb::FeaturesRequest {}))
            .await
            .map_err(|s| {
                crate::error::error(&s).map_message(|m| format!("{shown}: Features: {m}"))
            })?
            .into_inner()
            .features;
        (core.caps.features, core.key_prefix) = crate::features::read(&names, &services);
        // daprd always asks, and reads Unimplemented as no limit.
        if services.iter().any(|s| s == services::MULTI_MAX_SIZE) {
            let mut c = pb::transactional_store_multi_max_size_client::TransactionalStoreMultiMaxSizeClient::new(
                core.channel.clone(),
            );
            match c
                .multi_max_size(core.request(pb::MultiMaxSizeRequest {}))
                .await
            {
                Ok(r) => {
                    let r = r.into_inner();
                    let limit = |n: i64| usize::try_from(n).ok().filter(|n| *n > 0);
                    let limits = &mut core.caps.limits;
                    limits.max_transaction_ops = limit(r.max_size);
                    limits.max_key_len = limit(r.statestore_max_key_len);
                    limits.max_value_len = limit(r.statestore_max_value_len);
                    limits.max_bulk_batch = limit(r.statestore_max_bulk_batch);
                }
                Err(s) if s.code() == tonic::Code::Unimplemented => {}
                Err(s) => {
                    return Err(crate::error::error(&s)
                        .map_message(|m| format!("{shown}: MultiMaxSize: {m}")));
                }
            }
        }
        // A value travels in one message, beside its key and metadata.
        let room = MAX_MESSAGE - VALUE_HEADROOM;
        let value = &mut core.caps.limits.max_value_len;
        *value = Some(value.map_or(room, |n| n.min(room)));
        Ok(core)
    }

    /// `msg` with the instance name, as daprd sends every call.
    pub(crate) fn request<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert(INSTANCE_HEADER, self.instance.clone());
        r
    }

    /// A write's `msg`, asking a statestore server for each item's outcome.
    pub(crate) fn write<T>(&self, msg: T) -> Request<T> {
        let mut r = self.request(msg);
        r.metadata_mut()
            .insert(OUTCOMES_HEADER, MetadataValue::from_static("1"));
        r
    }

    /// Asks a statestore server to close this instance (another component
    /// answers the Ping and keeps it).
    pub(crate) async fn close(&self) {
        let mut r = self.request(pb::PingRequest {});
        r.metadata_mut()
            .insert(CLOSE_HEADER, MetadataValue::from_static("1"));
        let _ = self.state().ping(r).await;
    }

    pub(crate) fn state(&self) -> pb::state_store_client::StateStoreClient<Channel> {
        pb::state_store_client::StateStoreClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    pub(crate) fn transactional(
        &self,
    ) -> pb::transactional_state_store_client::TransactionalStateStoreClient<Channel> {
        pb::transactional_state_store_client::TransactionalStateStoreClient::new(
            self.channel.clone(),
        )
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
    }

    pub(crate) fn extensions(
        &self,
    ) -> pb::statestore::v1::state_store_extensions_client::StateStoreExtensionsClient<Channel>
    {
        pb::statestore::v1::state_store_extensions_client::StateStoreExtensionsClient::new(
            self.channel.clone(),
        )
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
    }

    pub(crate) fn queriable(
        &self,
    ) -> pb::queriable_state_store_client::QueriableStateStoreClient<Channel> {
        pb::queriable_state_store_client::QueriableStateStoreClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }
}
