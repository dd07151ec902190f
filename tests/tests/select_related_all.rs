//! Issue 11.6: `select_related_all()` is Django's `select_related()` with no argument:
//! every non-null forward key, recursively, down to five hops, in one query; nullable
//! keys and many-valued relations stay unloaded. Result and query count on every backend.

use orm_sqlx::core::relation::ForeignKey;
use orm_sqlx::prelude::*;
use orm_tests::library::Book;
use orm_tests::{on_each_backend, with_library};

#[derive(Model, Debug, Clone)]
#[orm(table = "sra_regions")]
pub struct Region {
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "sra_cities")]
pub struct City {
    pub id: i64,
    pub name: String,
    pub region: ForeignKey<Region>,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "sra_districts")]
pub struct District {
    pub id: i64,
    pub name: String,
    pub city: ForeignKey<City>,
    /// Nullable: not followed.
    pub twin: Option<ForeignKey<City>>,
}

/// A cycle of required keys: followed five hops deep, then no further.
#[derive(Model, Debug, Clone)]
#[orm(table = "sra_links")]
pub struct Link {
    pub id: i64,
    pub next: ForeignKey<Link>,
}

fn joins(sql: &str) -> (usize, usize) {
    let upper = sql.to_uppercase();
    (
        upper.matches(" JOIN ").count(),
        upper.matches("LEFT OUTER JOIN").count(),
    )
}

#[tokio::test]
async fn follows_the_required_keys_of_the_library() {
    with_library(|db, _backend, _lib| async move {
        let qs = Book::objects()
            .order_by(|b| b.id.asc())
            .select_related_all();
        // Book.author is required; Book.publisher and Author.country are nullable.
        assert_eq!(joins(&qs.sql()), (1, 0), "{}", qs.sql());
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!((rows.len(), q.len()), (3, 1));
        let (names, q) = capture_queries(async {
            rows.iter()
                .map(|b| b.author.get().unwrap().name.clone())
                .collect::<Vec<_>>()
        })
        .await;
        assert_eq!(names, ["Alice", "Alice", "Bob"]);
        assert!(q.is_empty());
        assert!(
            rows.iter()
                .all(|b| b.publisher.as_ref().is_none_or(|p| !p.is_loaded()))
        );
        let alice = rows[0].author.get().unwrap();
        assert!(!alice.country.as_ref().unwrap().is_loaded());
        assert!(!alice.books.is_loaded());
        // Added to a named path, it accumulates: the nullable publisher joins too.
        let both = qs.select_related(|b| b.publisher());
        assert_eq!(joins(&both.sql()), (2, 1), "{}", both.sql());
        let (rows, q) = capture_queries(both.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            rows[0].publisher.as_ref().unwrap().get().unwrap().name,
            "Penguin"
        );
    })
    .await;
}

#[tokio::test]
async fn follows_required_keys_recursively_and_stops_at_five_hops() {
    on_each_backend(|db, _backend| async move {
        db.create_tables::<(Region, City, District, Link)>()
            .await
            .unwrap();
        let mut north = Region {
            id: 0,
            name: "North".into(),
        };
        north.insert(&db).await.unwrap();
        let mut york = City {
            id: 0,
            name: "York".into(),
            region: ForeignKey::new(north.id),
        };
        york.insert(&db).await.unwrap();
        for (name, twin) in [("Centre", None), ("Walls", Some(york.id))] {
            let mut d = District {
                id: 0,
                name: name.into(),
                city: ForeignKey::new(york.id),
                twin: twin.map(ForeignKey::new),
            };
            d.insert(&db).await.unwrap();
        }

        let qs = District::objects()
            .order_by(|d| d.id.asc())
            .select_related_all();
        assert_eq!(joins(&qs.sql()), (2, 0), "{}", qs.sql());
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!((rows.len(), q.len()), (2, 1));
        for d in rows {
            let city = d.city.get().unwrap();
            assert_eq!(city.name, "York");
            assert_eq!(city.region.get().unwrap().name, "North");
        }
        assert!(!rows[1].twin.as_ref().unwrap().is_loaded());

        // A cycle of required keys: five joins, then no more (Django's max_depth).
        let links = Link::objects().select_related_all();
        assert_eq!(joins(&links.sql()), (5, 0), "{}", links.sql());
        let (rows, q) = capture_queries(links.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 1));

        // A model with no required key: nothing to join.
        let regions = Region::objects().select_related_all();
        assert_eq!(joins(&regions.sql()), (0, 0));
        let (rows, q) = capture_queries(regions.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (1, 1));
    })
    .await;
}
