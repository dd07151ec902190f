//! The relation shapes beyond the library fixture: a one-to-one key and a many-to-many
//! relation through an explicit model with fields of its own (Django's `through=`).

use orm_sqlx::prelude::*;
use orm_tests::{on_each_backend, portable_sql};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "people")]
struct Person {
    id: i64,
    name: String,
    /// Through the explicit `Membership` model: its table and its two key columns
    /// (`person_id`, `club_id`) are the join table.
    #[orm(many_to_many, through = "memberships")]
    clubs: ManyToMany<Club>,
    #[orm(reverse(Passport::holder))]
    passport: Reverse<Passport>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "clubs")]
struct Club {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "memberships")]
struct Membership {
    id: i64,
    person: ForeignKey<Person>,
    club: ForeignKey<Club>,
    role: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "passports")]
struct Passport {
    id: i64,
    number: String,
    holder: OneToOne<Person>,
}

fn person(name: &str) -> Person {
    Person {
        id: 0,
        name: name.into(),
        clubs: Default::default(),
        passport: Default::default(),
    }
}

#[tokio::test]
async fn one_to_one_is_a_unique_key_that_joins_like_a_foreign_key() {
    on_each_backend(|db, _| async move {
        db.create_tables::<(Person, Club, Membership, Passport)>()
            .await
            .unwrap();
        let mut ann = person("Ann");
        ann.insert(&db).await.unwrap();
        let mut p = Passport {
            id: 0,
            number: "X1".into(),
            holder: OneToOne::new(ann.id),
        };
        p.insert(&db).await.unwrap();

        let (got, q) = capture_queries(
            Passport::objects()
                .select_related(|p| p.holder())
                .filter(|p| p.holder().name.eq("Ann"))
                .get(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(got.unwrap().holder.get().unwrap().name, "Ann");

        // a second passport for the same person breaks the UNIQUE constraint
        let mut again = Passport {
            id: 0,
            number: "X2".into(),
            holder: OneToOne::new(ann.id),
        };
        let e = again.insert(&db).await.unwrap_err();
        assert!(e.is_unique_violation(), "{e}");

        // the reverse side prefetches like any reverse relation
        let (people, q) = capture_queries(
            Person::objects()
                .prefetch_related(|p| p.passport())
                .get(&db),
        )
        .await;
        assert_eq!(q.len(), 2);
        assert_eq!(people.unwrap().passport.all().unwrap()[0].number, "X1");
    })
    .await;
}

#[tokio::test]
async fn many_to_many_through_an_explicit_model() {
    on_each_backend(|db, _| async move {
        db.create_tables::<(Person, Club, Membership, Passport)>()
            .await
            .unwrap();
        let mut people = vec![person("Ann"), person("Bob")];
        Person::objects()
            .bulk_create(&mut people, &db)
            .await
            .unwrap();
        let mut clubs = vec![
            Club {
                id: 0,
                name: "chess".into(),
            },
            Club {
                id: 0,
                name: "rowing".into(),
            },
        ];
        Club::objects().bulk_create(&mut clubs, &db).await.unwrap();
        let membership = |p: &Person, c: &Club, role: &str| Membership {
            id: 0,
            person: ForeignKey::new(p.id),
            club: ForeignKey::new(c.id),
            role: role.into(),
        };
        let mut links = vec![
            membership(&people[0], &clubs[0], "captain"),
            membership(&people[0], &clubs[1], "member"),
            membership(&people[1], &clubs[0], "member"),
        ];
        Membership::objects()
            .bulk_create(&mut links, &db)
            .await
            .unwrap();

        // the relation reads the through model's rows
        let (rows, q) = capture_queries(async {
            Person::objects()
                .prefetch_related(|p| p.clubs())
                .order_by(|p| p.name.asc())
                .fetch(&db)
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|p| p.clubs.count().unwrap())
                        .collect::<Vec<_>>()
                })
        })
        .await;
        assert_eq!((rows.unwrap(), q.len()), (vec![2, 1], 2));
        let chess = Person::objects()
            .filter(|p| p.clubs().name.eq("chess"))
            .order_by(|p| p.name.asc())
            .values(|p| p.name);
        assert_eq!(chess.fetch(&db).await.unwrap(), ["Ann", "Bob"]);

        // and the through model's own fields are a queryset away
        let captains = Membership::objects()
            .filter(|m| m.role.eq("captain"))
            .select_related(|m| m.person())
            .select_related(|m| m.club())
            .get(&db)
            .await
            .unwrap();
        assert_eq!(
            (
                captains.person.get().unwrap().name.as_str(),
                captains.club.get().unwrap().name.as_str()
            ),
            ("Ann", "chess")
        );

        // deleting a person drops their links (the join table is the through model's)
        let (d, _) = capture_queries(people[0].delete(&db)).await;
        let d = d.unwrap();
        assert_eq!(d.per_model.get("memberships"), Some(&2));
        assert_eq!(Membership::objects().count(&db).await.unwrap(), 1);
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "members")]
struct Member {
    id: i64,
    name: String,
    friends: ManyToMany<Member>,
}

#[tokio::test]
async fn a_self_many_to_many_manager_filters_through_its_own_join_table() {
    on_each_backend(|db, _| async move {
        db.create_table::<Member>().await.unwrap();
        let member = |name: &str| Member {
            id: 0,
            name: name.into(),
            friends: Default::default(),
        };
        let mut people = vec![member("a"), member("b"), member("c")];
        Member::objects()
            .bulk_create(&mut people, &db)
            .await
            .unwrap();
        let (a, b, c) = (people[0].clone(), people[1].clone(), people[2].clone());
        let mut a2 = a.clone();
        a2.add_related(|m| m.friends(), &[&b], &db).await.unwrap();
        let mut b2 = b.clone();
        b2.add_related(|m| m.friends(), &[&c], &db).await.unwrap();
        // a's friends who are friends with c
        let qs = a.friends().filter(|f| f.friends().name.eq("c"));
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        let names: Vec<_> = rows.unwrap().iter().map(|m| m.name.clone()).collect();
        assert_eq!((names, q.len()), (vec!["b".to_string()], 1));
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "artists")]
struct Artist {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "albums")]
struct Album {
    id: i64,
    artist: ForeignKey<Artist>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "songs")]
struct Song {
    id: i64,
    #[orm(on_delete = "restrict")]
    album: ForeignKey<Album>,
    artist: ForeignKey<Artist>,
}

/// Django's RESTRICT: an album with songs cannot be deleted on its own, but deleting the
/// artist deletes the album, and the songs with it (they are reached by a cascade too).
#[tokio::test]
async fn restrict_gives_way_to_a_cascade_that_reaches_the_same_rows() {
    on_each_backend(|db, _| async move {
        db.create_tables::<(Artist, Album, Song)>().await.unwrap();
        let mut artist = Artist {
            id: 0,
            name: "a".into(),
        };
        artist.insert(&db).await.unwrap();
        let mut album = Album {
            id: 0,
            artist: ForeignKey::new(artist.id),
        };
        album.insert(&db).await.unwrap();
        let mut song = Song {
            id: 0,
            album: ForeignKey::new(album.id),
            artist: ForeignKey::new(artist.id),
        };
        song.insert(&db).await.unwrap();

        let e = album.delete(&db).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Protected {
                    restrict: true,
                    count: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains("RESTRICT") && e.to_string().contains("Song.album"),
            "{e}"
        );
        assert_eq!(Album::objects().count(&db).await.unwrap(), 1);

        let (d, _) = capture_queries(artist.delete(&db)).await;
        let d = d.unwrap();
        assert_eq!(
            (
                d.per_model.get("Artist"),
                d.per_model.get("Album"),
                d.per_model.get("Song")
            ),
            (Some(&1), Some(&1), Some(&1))
        );
        assert_eq!(Song::objects().count(&db).await.unwrap(), 0);
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "lenders")]
struct Lender {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "loans")]
struct Loan {
    id: i64,
    from: ForeignKey<Lender>,
    to: ForeignKey<Lender>,
}

/// S22: two keys to one model join that table twice, under distinct aliases, in one query;
/// a filter through each key reads its own join.
#[tokio::test]
async fn s22_two_keys_to_one_model_get_distinct_aliases() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Lender, Loan)>().await.unwrap();
        let mut people = vec![
            Lender {
                id: 0,
                name: "ann".into(),
            },
            Lender {
                id: 0,
                name: "bob".into(),
            },
        ];
        Lender::objects()
            .bulk_create(&mut people, &db)
            .await
            .unwrap();
        let mut loan = Loan {
            id: 0,
            from: ForeignKey::new(people[0].id),
            to: ForeignKey::new(people[1].id),
        };
        loan.insert(&db).await.unwrap();

        let qs = Loan::objects()
            .select_related(|l| l.from())
            .select_related(|l| l.to())
            .filter(|l| l.from().name.eq("ann") & l.to().name.eq("bob"));
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"INNER JOIN "lenders" ON"#),
            "{}",
            q[0].sql
        );
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"INNER JOIN "lenders" "T3" ON"#),
            "{}",
            q[0].sql
        );
        assert_eq!(
            (
                rows[0].from.get().unwrap().name.as_str(),
                rows[0].to.get().unwrap().name.as_str()
            ),
            ("ann", "bob")
        );
        let swapped = Loan::objects().filter(|l| l.from().name.eq("bob"));
        let (n, q) = capture_queries(swapped.count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (0, 1));
    })
    .await;
}

/// A fast `delete()` (nothing points at a loan) filtered across a relation and by a
/// subquery over its own table: one DELETE each, and only the rows matched. On MySQL,
/// which refuses a subquery reading the table being changed (error 1093), the filter is a
/// derived table.
#[tokio::test]
async fn delete_filtered_across_a_relation_or_by_its_own_table_is_one_statement() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Lender, Loan)>().await.unwrap();
        let mut people: Vec<Lender> = ["ann", "bob", "cy"]
            .iter()
            .map(|n| Lender {
                id: 0,
                name: (*n).into(),
            })
            .collect();
        Lender::objects()
            .bulk_create(&mut people, &db)
            .await
            .unwrap();
        let (ann, bob, cy) = (people[0].id, people[1].id, people[2].id);
        let mut loans: Vec<Loan> = [(ann, bob), (bob, cy), (cy, ann), (ann, cy)]
            .iter()
            .map(|&(f, t)| Loan {
                id: 0,
                from: ForeignKey::new(f),
                to: ForeignKey::new(t),
            })
            .collect();
        Loan::objects().bulk_create(&mut loans, &db).await.unwrap();
        let pairs = |db: Db| async move {
            Loan::objects()
                .order_by(|l| l.id.asc())
                .values(|l| (l.from, l.to))
                .fetch(&db)
                .await
                .unwrap()
                .to_vec()
        };

        // Across a relation: the loans to cy.
        let (d, q) =
            capture_queries(Loan::objects().filter(|l| l.to().name.eq("cy")).delete(&db)).await;
        assert_eq!((d.unwrap().total, q.len()), (2, 1), "{q:#?}");
        let wrapped = |sql: &str| sql.contains(r#"IN (SELECT * FROM (SELECT "loans"."id""#);
        let sql = portable_sql(backend, &q[0].sql);
        assert_eq!(
            wrapped(&sql),
            backend == orm_tests::Backend::Mysql,
            "{}",
            q[0].sql
        );
        assert!(sql.contains(r#"INNER JOIN "lenders""#), "{}", q[0].sql);
        assert_eq!(pairs(db.clone()).await, [(ann, bob), (cy, ann)]);

        // By a subquery over loans: the loans whose lender also borrowed from ann.
        let ann_lent_to = Loan::objects().filter(|l| l.from.eq(ann)).values(|l| l.to);
        let (d, q) = capture_queries(
            Loan::objects()
                .filter(|l| l.from.is_in(ann_lent_to))
                .delete(&db),
        )
        .await;
        assert_eq!((d.unwrap().total, q.len()), (0, 1), "{q:#?}");
        let all_lenders = Loan::objects().values(|l| l.to);
        let (d, q) = capture_queries(
            Loan::objects()
                .filter(|l| l.from.is_in(all_lenders) & l.to.eq(bob))
                .delete(&db),
        )
        .await;
        assert_eq!((d.unwrap().total, q.len()), (1, 1), "{q:#?}");
        assert_eq!(
            wrapped(&portable_sql(backend, &q[0].sql)),
            backend == orm_tests::Backend::Mysql,
            "{}",
            q[0].sql
        );
        assert_eq!(pairs(db.clone()).await, [(cy, ann)]);
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "parts")]
struct Part {
    id: i64,
    name: String,
    /// Not nullable: the root part is its own whole.
    whole: ForeignKey<Part>,
    #[orm(reverse(Part::whole))]
    parts: Reverse<Part>,
}

fn part(id: i64, name: &str, whole: i64) -> Part {
    Part {
        id,
        name: name.into(),
        whole: ForeignKey::new(whole),
        parts: Default::default(),
    }
}

/// A chain through a non-nullable self key (root ← wheel ← spoke ← nipple, ids out of
/// order) is deleted in one DELETE on every backend: where keys are checked row by row
/// (MySQL), the statement deletes the rows in order, each after the rows pointing at it.
/// A row that is its own whole cannot go on MySQL in any order, and its key cannot be
/// cleared: a typed error, with nothing deleted; SQLite and PostgreSQL (checking at the
/// commit) delete it.
#[tokio::test]
async fn a_non_nullable_self_key_deletes_its_chain_and_its_cycle_where_the_server_can() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Part>().await.unwrap();
        // Inserted one by one, each after the part it belongs to (ids chosen, not
        // generated, so that they run against the chain's order).
        for p in [
            part(1, "root", 1),
            part(9, "wheel", 1),
            part(5, "spoke", 9),
            part(7, "nipple", 5),
            part(3, "other", 1),
        ] {
            let mut p = p;
            p.insert(&db).await.unwrap();
        }
        let wheel = Part::objects()
            .filter(|p| p.name.eq("wheel"))
            .get(&db)
            .await
            .unwrap();
        let (d, q) = capture_queries(wheel.delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Part"), Some(&3), "{q:#?}");
        let deletes: Vec<_> = q
            .iter()
            .filter(|q| q.kind == orm_sqlx::StatementKind::Delete)
            .collect();
        assert_eq!(deletes.len(), 1, "{q:#?}");
        if backend == orm_tests::Backend::Mysql {
            assert!(
                deletes[0].sql.contains(" ORDER BY FIELD("),
                "{}",
                deletes[0].sql
            );
        }
        let left = Part::objects()
            .order_by(|p| p.id.asc())
            .values(|p| p.name)
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(left, ["root", "other"]);

        let root = Part::objects()
            .filter(|p| p.id.eq(1))
            .get(&db)
            .await
            .unwrap();
        let (d, q) = capture_queries(root.delete(&db)).await;
        match backend {
            orm_tests::Backend::Mysql => {
                let e = d.unwrap_err();
                assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
                let msg = e.to_string();
                assert!(msg.contains("Part.whole") && msg.contains("MySQL"), "{msg}");
                // Refused before any write: BEGIN, the two levels, ROLLBACK.
                assert!(
                    q.iter().all(|q| !matches!(
                        q.kind,
                        orm_sqlx::StatementKind::Delete | orm_sqlx::StatementKind::Update
                    )),
                    "{q:#?}"
                );
                assert_eq!(Part::objects().count(&db).await.unwrap(), 2);
            }
            orm_tests::Backend::Sqlite | orm_tests::Backend::Postgres => {
                assert_eq!(d.unwrap().per_model.get("Part"), Some(&2), "{q:#?}");
                assert_eq!(Part::objects().count(&db).await.unwrap(), 0);
            }
        }
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "links")]
struct Link {
    id: i64,
    #[orm(on_delete = "do_nothing")]
    next: Option<ForeignKey<Link>>,
}

/// DO_NOTHING: the ORM neither follows nor reads the key, and the server's constraint
/// decides. Deleting both rows of `a ← b` at once: SQLite and PostgreSQL check the key at
/// the commit, when both rows are gone; MySQL checks it as each row goes (in key order,
/// `a` first, still pointed at by `b`) and refuses the statement: a database error,
/// nothing deleted (as Django's DO_NOTHING does on MySQL).
#[tokio::test]
async fn do_nothing_keys_among_the_deleted_rows_are_left_to_the_server() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Link>().await.unwrap();
        let mut a = Link { id: 0, next: None };
        a.insert(&db).await.unwrap();
        let mut b = Link {
            id: 0,
            next: Some(ForeignKey::new(a.id)),
        };
        b.insert(&db).await.unwrap();
        let (d, q) = capture_queries(Link::objects().delete(&db)).await;
        // BEGIN, the keys, the DELETE, then COMMIT or (on its error) ROLLBACK
        assert_eq!(q.len(), 4, "{q:#?}");
        match backend {
            orm_tests::Backend::Mysql => {
                let e = d.unwrap_err();
                assert!(
                    matches!(
                        e,
                        Error::Integrity {
                            kind: orm_sqlx::Violation::ForeignKey,
                            ..
                        }
                    ),
                    "{e:?}"
                );
                assert!(
                    e.to_string().contains("foreign key constraint fails"),
                    "{e}"
                );
                assert_eq!(Link::objects().count(&db).await.unwrap(), 2);
            }
            orm_tests::Backend::Sqlite | orm_tests::Backend::Postgres => {
                assert_eq!(d.unwrap().per_model.get("Link"), Some(&2));
                assert_eq!(Link::objects().count(&db).await.unwrap(), 0);
            }
        }
    })
    .await;
}
