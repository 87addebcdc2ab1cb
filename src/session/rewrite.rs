//! TEMPORARY interface stub so the session compiles; replaced by the real module.
use std::sync::Arc;

use bytes::BytesMut;

use crate::mask::{Encoding, FieldAction};

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("malformed")]
    Malformed,
}
pub struct FieldInfo {
    pub table_oid: u32,
    pub column: i16,
    pub type_oid: u32,
    pub format: i16,
}
pub struct ResultPlan {}
impl ResultPlan {
    pub fn new(
        _rd: &[u8],
        _actions: Vec<FieldAction>,
        _encoding: Encoding,
        _hash_key: Arc<[u8; 32]>,
    ) -> Result<ResultPlan, RewriteError> {
        Err(RewriteError::Malformed)
    }
    pub fn fields(&self) -> usize {
        0
    }
    pub fn is_passthrough(&self) -> bool {
        false
    }
    pub fn rewrite_data_row(
        &self,
        _payload: &[u8],
        _out: &mut BytesMut,
        _masked: &mut [u64],
    ) -> Result<(), RewriteError> {
        Err(RewriteError::Malformed)
    }
    pub fn with_formats(&self, _formats: &[i16]) -> Result<ResultPlan, RewriteError> {
        Err(RewriteError::Malformed)
    }
}
pub fn fields_of(_rd: &[u8]) -> Result<Vec<FieldInfo>, RewriteError> {
    Err(RewriteError::Malformed)
}
