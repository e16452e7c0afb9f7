//! Memory: the heap and the page tables.
pub mod heap;
pub mod paging;
