//! The workloads in SeaORM 2.0 (sqlx 0.9 underneath, on SeaORM's `DatabaseConnection`, a
//! sqlx pool): the bench's three tables as entities in SeaORM 2.0's dense format
//! (`#[sea_orm::model]`, what `sea-orm-cli generate entity --entity-format dense` writes,
//! with the relations as `HasMany`/`BelongsTo` fields), and each workload the way SeaORM's
//! README and docs write it: `find().limit(n).all` (W1), `find_by_id(id).one` (W2),
//! `find_also_related` (W3, one JOIN), the Entity Loader
//! `load().filter(..).with((post::Entity, comment::Entity)).all` (W4: three queries, the
//! children by `IN (…)` of their parents' keys), `select_only().columns(..).into_tuple()`
//! (W5). Each returns its checksum ([`super::check`]).

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::check;

pub mod user {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub hair_color: Option<String>,
        #[sea_orm(has_many)]
        pub posts: HasMany<super::post::Entity>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod post {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub title: String,
        pub body: Option<String>,
        #[sea_orm(belongs_to, from = "user_id", to = "id")]
        pub user: BelongsTo<super::user::Entity>,
        #[sea_orm(has_many)]
        pub comments: HasMany<super::comment::Entity>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod comment {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub post_id: i64,
        pub text: String,
        #[sea_orm(belongs_to, from = "post_id", to = "id")]
        pub post: BelongsTo<super::post::Entity>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

fn user_check(u: &user::Model) -> u64 {
    check::user(u.id, &u.name, u.hair_color.as_deref())
}

fn post_check(p: &post::Model) -> u64 {
    check::post(p.id, p.user_id, &p.title, p.body.as_deref())
}

/// W1: the first `n` users.
pub async fn w1(db: &DatabaseConnection, n: i64) -> Result<u64, DbErr> {
    let v: Vec<user::Model> = user::Entity::find().limit(n as u64).all(db).await?;
    Ok(v.iter().map(user_check).sum())
}

/// W2: one user by primary key.
pub async fn w2(db: &DatabaseConnection, id: i64) -> Result<u64, DbErr> {
    let u: Option<user::Model> = user::Entity::find_by_id(id).one(db).await?;
    let u = u.ok_or_else(|| DbErr::RecordNotFound(format!("user {id}")))?;
    Ok(user_check(&u))
}

/// W3: every post with its user, one join.
pub async fn w3(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let v: Vec<(post::Model, Option<user::Model>)> = post::Entity::find()
        .find_also_related(user::Entity)
        .all(db)
        .await?;
    let mut sum = 0;
    for (p, u) in &v {
        let u = u
            .as_ref()
            .ok_or_else(|| DbErr::RecordNotFound(format!("the user of post {}", p.id)))?;
        sum += post_check(p) + user_check(u);
    }
    Ok(sum)
}

/// W4: users → posts → comments, by the Entity Loader (three queries).
pub async fn w4(db: &DatabaseConnection, max_user: i64) -> Result<u64, DbErr> {
    let users: Vec<user::ModelEx> = user::Entity::load()
        .filter(user::Column::Id.lte(max_user))
        .with((post::Entity, comment::Entity))
        .all(db)
        .await?;
    let mut sum = 0;
    for u in &users {
        sum += check::user(u.id, &u.name, u.hair_color.as_deref());
        for p in u.posts.iter() {
            let post = check::post(p.id, p.user_id, &p.title, p.body.as_deref());
            sum += check::post_in_tree(u.id, post);
            for c in p.comments.iter() {
                let comment = check::comment(c.id, c.post_id, &c.text);
                sum += check::comment_in_tree(p.id, comment);
            }
        }
    }
    Ok(sum)
}

/// W5: (id, name) of every user.
pub async fn w5(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let v: Vec<(i64, String)> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::Name])
        .into_tuple()
        .all(db)
        .await?;
    Ok(v.iter().map(|(id, name)| check::pair(*id, name)).sum())
}
