//! Issue 12, "done means": the write endpoints of a small blog API, each a few lines of
//! the ORM's API, with no raw SQL and no driver types: create a post with tags, partial
//! update, delete, get-or-create a tag, a duplicate → 409, a too-long title → 422. Each
//! endpoint's result and query count, on every backend.

use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::on_each_backend;
use serde::Serialize;

#[derive(Choices, Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Status {
    Draft,
    Published,
}

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize)]
#[orm(table = "blog_tags")]
pub struct Tag {
    pub id: i64,
    #[orm(unique, max_length = 40)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq, Serialize)]
#[orm(table = "blog_posts")]
pub struct Post {
    pub id: i64,
    #[orm(max_length = 80)]
    pub title: String,
    pub body: String,
    #[orm(default = Status::Draft)]
    pub status: Status,
    #[orm(auto_now_add)]
    #[serde(skip)]
    pub created: chrono::DateTime<chrono::Utc>,
    pub tags: ManyToMany<Tag>,
}

/// What a handler answers: an HTTP status, from the ORM's typed errors.
#[derive(Debug, PartialEq)]
pub enum ApiError {
    NotFound,
    Conflict,
    Invalid,
    Internal(String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::DoesNotExist { .. } => ApiError::NotFound,
            e if e.is_unique_violation() => ApiError::Conflict,
            Error::InvalidValue { .. } => ApiError::Invalid,
            e => ApiError::Internal(e.to_string()),
        }
    }
}

// The endpoints.

async fn create_post(db: &Db, title: &str, body: &str, tags: &[&str]) -> Result<Post, ApiError> {
    let (db2, title, body) = (db.clone(), title.to_owned(), body.to_owned());
    let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    Ok(db2
        .atomic(move |tx| {
            Box::pin(async move {
                let mut post = Post::objects()
                    .create(
                        Post {
                            title,
                            body,
                            ..Default::default()
                        },
                        &mut *tx,
                    )
                    .await?;
                let mut ids = Vec::new();
                for name in tags {
                    let new = || Tag {
                        name: name.clone(),
                        ..Default::default()
                    };
                    let (tag, _) = Tag::objects()
                        .get_or_create(|t| t.name.eq(&name), new, &mut *tx)
                        .await?;
                    ids.push(tag.id);
                }
                post.set_related(|p| p.tags(), ids, &mut *tx).await?;
                Ok(post)
            })
        })
        .await?)
}

async fn rename_post(db: &Db, id: i64, title: &str) -> Result<Post, ApiError> {
    let mut post = Post::objects().get_pk(id, db).await?;
    post.title = title.into();
    post.save_fields(|p| p.title, db).await?;
    Ok(post)
}

async fn delete_post(db: &Db, id: i64) -> Result<u64, ApiError> {
    let post = Post::objects().get_pk(id, db).await?;
    Ok(post.delete(db).await?.total)
}

async fn tag(db: &Db, name: &str) -> Result<Tag, ApiError> {
    let new = || Tag {
        name: name.into(),
        ..Default::default()
    };
    Ok(Tag::objects()
        .get_or_create(|t| t.name.eq(name), new, db)
        .await?
        .0)
}

async fn create_tag(db: &Db, name: &str) -> Result<Tag, ApiError> {
    Ok(Tag::objects()
        .create(
            Tag {
                name: name.into(),
                ..Default::default()
            },
            db,
        )
        .await?)
}

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

#[tokio::test]
async fn the_write_endpoints_of_a_blog_api() {
    on_each_backend(|db, _| async move {
        db.create_tables::<(Tag, Post)>().await.unwrap();
        tag(&db, "rust").await.unwrap();

        // Create with tags: one existing, one new.
        let (post, q) = capture_queries(create_post(&db, "Hello", "…", &["rust", "sql"])).await;
        let post = post.unwrap();
        assert_eq!(post.status, Status::Draft);
        let k = kinds(&q);
        assert_eq!(
            (k.first(), k.last()),
            (Some(&Begin), Some(&Commit)),
            "{k:?}"
        );
        let names: Vec<String> = post
            .tags()
            .order_by(|t| t.name.asc())
            .values(|t| t.name)
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(names, ["rust", "sql"]);
        let json = serde_json::to_value(&post).unwrap();
        assert_eq!(json["status"], "Draft");
        assert_eq!(json["title"], "Hello");

        // Partial update: one SELECT, one UPDATE of the title.
        let (r, q) = capture_queries(rename_post(&db, post.id, "Hello, world")).await;
        assert_eq!(r.unwrap().title, "Hello, world");
        assert_eq!(kinds(&q), [Select, Update]);
        assert!(
            q[1].sql.contains("title") && !q[1].sql.contains("body"),
            "{}",
            q[1].sql
        );
        assert_eq!(
            rename_post(&db, 999, "x").await.unwrap_err(),
            ApiError::NotFound
        );
        let long = "x".repeat(81);
        let (r, q) = capture_queries(rename_post(&db, post.id, &long)).await;
        assert_eq!(r.unwrap_err(), ApiError::Invalid);
        assert_eq!(kinds(&q), [Select], "the UPDATE is never sent");

        // Get-or-create a tag: found → 1 query.
        let (r, q) = capture_queries(tag(&db, "sql")).await;
        assert_eq!(r.unwrap().name, "sql");
        assert_eq!(kinds(&q), [Select]);

        // A duplicate → 409.
        let (r, q) = capture_queries(create_tag(&db, "rust")).await;
        assert_eq!(r.unwrap_err(), ApiError::Conflict);
        assert_eq!(kinds(&q), [Insert]);

        // Delete: the post and its links.
        let (r, _) = capture_queries(delete_post(&db, post.id)).await;
        assert_eq!(r.unwrap(), 3, "the post and its two links");
        assert_eq!(
            delete_post(&db, post.id).await.unwrap_err(),
            ApiError::NotFound
        );
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 2, "tags stay");
    })
    .await;
}
