use super::ops::{self, Op};
