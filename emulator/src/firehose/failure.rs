//! Why a record could not go where its delivery stream sends records: a
//! processor refused it, its partition keys could not be found, or its
//! evaluated prefix is too long. Such a record goes to the error output, in an
//! error record that carries this code and message (`errorCode`,
//! `errorMessage`), as AWS writes them.
//!
//! It has a module of its own because processing, partitioning, the Lambda
//! processor and the object keys all fail records this way, and none of them
//! should depend on another for it.

/// Why a record could not be processed, as an error record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}
