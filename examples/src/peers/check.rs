//! Checksums of a workload's result, the same function of the same rows whichever column
//! read them: the columns must agree on them before anything is timed (and again on
//! every sample), or the comparison would be of different work.
//!
//! A row adds its key, the lengths of its texts and, for a child, its parent's key; a tree
//! (W4) weighs each child by its parent's key, so that a child under the wrong parent
//! changes the sum.

/// One `users` row.
pub fn user(id: i64, name: &str, hair_color: Option<&str>) -> u64 {
    id as u64 + name.len() as u64 + hair_color.map_or(0, |h| h.len() as u64 + 1)
}

/// One `posts` row.
pub fn post(id: i64, user_id: i64, title: &str, body: Option<&str>) -> u64 {
    id as u64 + 3 * user_id as u64 + title.len() as u64 + body.map_or(0, |b| b.len() as u64 + 1)
}

/// One `comments` row.
pub fn comment(id: i64, post_id: i64, text: &str) -> u64 {
    id as u64 + 3 * post_id as u64 + text.len() as u64
}

/// A post of `user_id` in a W4 tree.
pub fn post_in_tree(user_id: i64, post: u64) -> u64 {
    post * (user_id as u64 + 1)
}

/// A comment of `post_id` in a W4 tree.
pub fn comment_in_tree(post_id: i64, comment: u64) -> u64 {
    comment * (post_id as u64 + 1)
}

/// A (id, name) pair of W5.
pub fn pair(id: i64, name: &str) -> u64 {
    id as u64 + name.len() as u64
}
