//! The one mapping from AWS SDK errors to statestore error kinds: how the
//! call failed (no connection, timeout, an answer), and the service's error
//! code.

use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use statestore_core::Error;

/// The code of a failed condition: an etag or first-write check.
pub const CONDITION_FAILED: &str = "ConditionalCheckFailedException";
/// The code of a cancelled transaction, whose reasons say which item failed.
pub const TRANSACTION_CANCELED: &str = "TransactionCanceledException";

/// What a service error code means.
pub fn kind_of(code: &str) -> Error {
    match code {
        CONDITION_FAILED => Error::etag_mismatch("the condition on the item did not hold"),
        "TransactionConflictException"
        | "TransactionConflict"
        | "TransactionInProgressException" => {
            Error::backend("a concurrent transaction on the same item won").with_retryable(true)
        }
        // The …Exception codes answer a request; the others are the reasons
        // a transaction gives for one of its items.
        "ProvisionedThroughputExceededException"
        | "ProvisionedThroughputExceeded"
        | "ThrottlingException"
        | "Throttling"
        | "RequestLimitExceeded"
        | "ThrottlingError" => Error::unavailable("DynamoDB throttled the request"),
        "InternalServerError" | "InternalFailure" | "ServiceUnavailable" => {
            Error::unavailable("DynamoDB is not available")
        }
        "ResourceNotFoundException" => {
            Error::config("the table does not exist (property table), or is not active yet")
        }
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException"
        | "InvalidClientTokenId" => Error::permission_denied(
            "AWS refused the credentials, or they lack a permission this call needs",
        ),
        "ValidationException"
        | "ValidationError"
        | "ItemCollectionSizeLimitExceededException"
        | "ItemCollectionSizeLimitExceeded" => {
            Error::invalid("DynamoDB refused the request as invalid (item size, key or expression)")
        }
        _ => Error::backend("DynamoDB refused the call"),
    }
}

/// The service's error as a source: its code, and its message unless the
/// message may quote credentials (signature errors echo the access key).
#[derive(Debug)]
pub struct ServiceError {
    code: String,
    message: Option<String>,
}

impl ServiceError {
    fn new(code: &str, message: Option<&str>) -> Self {
        let quotes_keys =
            code.contains("Signature") || code.contains("Token") || code.contains("Client");
        ServiceError {
            code: code.to_owned(),
            message: message
                .filter(|_| !quotes_keys)
                .map(|m| m.lines().next().unwrap_or("").chars().take(300).collect()),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) if !m.is_empty() => write!(f, "{}: {m}", self.code),
            _ => f.write_str(&self.code),
        }
    }
}

impl std::error::Error for ServiceError {}

/// The error of a service error code and message, the message kept (unless
/// it may quote credentials) as the source.
pub fn service(code: &str, message: Option<&str>) -> Error {
    kind_of(code).with_source(ServiceError::new(code, message))
}

/// The service error code of an SDK error, when the service answered.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// Maps an SDK error. The service's code and message (or the transport's
/// error) are kept as the source.
pub fn map<E, R>(e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            service(err.code().unwrap_or("Unknown"), err.message())
        }
        SdkError::TimeoutError(_) => {
            Error::timeout("DynamoDB did not answer within operationTimeout")
        }
        SdkError::DispatchFailure(d) => {
            let mapped = if d.is_timeout() {
                Error::timeout("DynamoDB did not answer in time")
            } else if d.is_user() {
                Error::config("the request could not be sent (endpoint or credentials)")
            } else {
                Error::unavailable("the endpoint could not be reached")
            };
            mapped.with_source(Transport(d.as_connector_error().map(|c| c.to_string())))
        }
        SdkError::ConstructionFailure(_) => {
            Error::config("the request could not be built (region or credentials missing?)")
        }
        SdkError::ResponseError(_) => {
            Error::unavailable("DynamoDB's answer could not be read").with_retryable(true)
        }
        _ => Error::backend("the AWS SDK failed"),
    }
}

/// A transport failure, shown by the connector's own words.
#[derive(Debug)]
struct Transport(Option<String>);

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("dispatch failure"))
    }
}

impl std::error::Error for Transport {}

#[cfg(test)]
mod tests {
    use statestore_core::ErrorKind;

    use super::*;

    #[test]
    fn service_codes() {
        let table = [
            (CONDITION_FAILED, ErrorKind::ETagMismatch, false),
            ("TransactionConflictException", ErrorKind::Backend, true),
            (
                "ProvisionedThroughputExceededException",
                ErrorKind::Unavailable,
                true,
            ),
            ("ThrottlingException", ErrorKind::Unavailable, true),
            (
                "ProvisionedThroughputExceeded",
                ErrorKind::Unavailable,
                true,
            ),
            ("ValidationError", ErrorKind::InvalidRequest, false),
            (
                "ItemCollectionSizeLimitExceeded",
                ErrorKind::InvalidRequest,
                false,
            ),
            ("TransactionConflict", ErrorKind::Backend, true),
            ("InternalServerError", ErrorKind::Unavailable, true),
            ("ResourceNotFoundException", ErrorKind::Config, false),
            ("AccessDeniedException", ErrorKind::PermissionDenied, false),
            (
                "UnrecognizedClientException",
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                "InvalidSignatureException",
                ErrorKind::PermissionDenied,
                false,
            ),
            ("ExpiredTokenException", ErrorKind::PermissionDenied, false),
            ("ValidationException", ErrorKind::InvalidRequest, false),
            ("SomethingNew", ErrorKind::Backend, false),
        ];
        for (code, kind, retry) in table {
            let e = kind_of(code);
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.is_retryable(), retry, "{code}");
        }
    }

    #[test]
    fn signature_errors_keep_no_message() {
        let shown = ServiceError::new(
            "InvalidSignatureException",
            Some("Credential=AKIDEXAMPLE/20260101/us-east-1"),
        )
        .to_string();
        assert_eq!(shown, "InvalidSignatureException");
        let shown = ServiceError::new("ValidationException", Some("Item size too large\nmore"));
        assert_eq!(
            shown.to_string(),
            "ValidationException: Item size too large"
        );
    }
}
