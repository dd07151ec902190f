// The shapes the relation compile-fail cases break, written correctly: they must compile,
// with nothing but the prelude imported.
use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone)]
struct Country {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone)]
struct Author {
    id: i64,
    name: String,
    country: Option<ForeignKey<Country>>,
    #[orm(reverse(Book::author))]
    books: Reverse<Book>,
}

#[derive(Model, Debug, Clone)]
struct Tag {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone)]
struct Book {
    id: i64,
    title: String,
    author: ForeignKey<Author>,
    tags: ManyToMany<Tag>,
}

#[derive(Model, Debug, Clone)]
struct Profile {
    id: i64,
    author: OneToOne<Author>,
}

fn main() {
    // select_related: a chain of forward keys, nullable hops included
    let _ = Book::objects().select_related(|b| b.author().country());
    let _ = Profile::objects().select_related(|p| p.author());
    // prefetch_related: any relation path starting at the queryset's model
    let _ = Author::objects().prefetch_related(|a| a.books().tags());
    let _ = Book::objects().prefetch_related(|b| b.author());
    let _ = Author::objects().prefetch(|a| a.books(), Book::objects().filter(|b| b.id.gt(1)));
    // lookups that span relations: forward, reverse and many-to-many
    let _ = Book::objects().filter(|b| b.author().name.eq("Alice"));
    let _ = Book::objects().filter(|b| b.author().country().name.eq("UK"));
    let _ = Author::objects().exclude(|a| a.books().title.eq("Dune"));
    let _ = Book::objects().filter(|b| b.tags().name.eq("sf"));
    // a key of the target's primary key type, or the target itself
    let alice = Author {
        id: 1,
        name: "Alice".into(),
        country: None,
        books: Reverse::default(),
    };
    let book = Book {
        id: 0,
        title: "Dune".into(),
        author: ForeignKey::new(alice.id),
        tags: ManyToMany::default(),
    };
    let _ = ForeignKey::<Author>::new(1);
    let _ = ForeignKey::to(alice.clone());
    let _ = Book::objects().filter(|b| b.author.eq(&alice));
    let _: &i64 = book.author.key();
    let _: &RelatedSet<Book> = &alice.books;
    let _ = alice.books();
    let _ = book.tags();
}
