//! The huiqi policy language: lexer, parser, checker (AST → IR), formatter and pack loader.
//! It knows nothing of evaluation, data ingestion or the ledger.

pub mod ast;
pub mod check;
pub mod diag;
pub mod fmt;
pub mod lexer;
pub mod pack;
pub mod parser;

pub use diag::{Diag, Lang, SourceMap, Span};
pub use pack::{find_packs, load_pack, load_pack_with, load_pack_with_extra, Loaded, ParamSet};
