//! The two wire encodings: postcard for programs, JSON for people.

use crate::contract::Encoding;
use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug)]
pub struct CodecError {
    pub encoding: Encoding,
    pub detail: String,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.encoding.name(), self.detail)
    }
}

pub fn decode<T: DeserializeOwned>(encoding: Encoding, bytes: &[u8]) -> Result<T, CodecError> {
    let fail = |detail: String| CodecError { encoding, detail };
    match encoding {
        Encoding::Postcard => postcard::from_bytes(bytes).map_err(|e| fail(e.to_string())),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| fail(e.to_string())),
    }
}

pub fn encode<T: Serialize + ?Sized>(encoding: Encoding, value: &T) -> Result<Vec<u8>, CodecError> {
    let fail = |detail: String| CodecError { encoding, detail };
    match encoding {
        Encoding::Postcard => postcard::to_allocvec(value).map_err(|e| fail(e.to_string())),
        Encoding::Json => serde_json::to_vec(value).map_err(|e| fail(e.to_string())),
    }
}
