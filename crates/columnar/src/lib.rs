//! The columnar engine: IR → DataFusion plans over a snapshot.
