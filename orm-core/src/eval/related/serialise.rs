//! `Serialize`/`Deserialize` for the relation fields (feature `serde`): a foreign key as
//! its key or its loaded object, a related set as its loaded rows or `null`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ForeignKey, RelatedSet};
use crate::schema::model::Model;

impl<T: Model + Serialize> Serialize for ForeignKey<T>
where
    T::Pk: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.loaded {
            _ if self.unset => s.serialize_none(),
            Some(obj) => {
                crate::eval::observe::read(self.meta);
                obj.serialize(s)
            }
            None => self.key.serialize(s),
        }
    }
}

impl<'de, T: Model + Deserialize<'de>> Deserialize<'de> for ForeignKey<T>
where
    T::Pk: Deserialize<'de> + Default,
{
    /// Self-describing formats only (JSON and the like): the key and the object forms are
    /// told apart by what the input holds.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyOrObject(PhantomData))
    }
}

struct KeyOrObject<T>(PhantomData<T>);

impl<T: Model> KeyOrObject<T> {
    fn key<'de, D: Deserializer<'de>, E: de::Error>(d: D) -> Result<ForeignKey<T>, E>
    where
        T::Pk: Deserialize<'de>,
    {
        T::Pk::deserialize(d)
            .map(ForeignKey::new)
            .map_err(|e| E::custom(e))
    }
}

impl<'de, T: Model + Deserialize<'de>> Visitor<'de> for KeyOrObject<T>
where
    T::Pk: Deserialize<'de> + Default,
{
    type Value = ForeignKey<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a key of {} or the object", T::META.name)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::key(v.into_deserializer() as de::value::I64Deserializer<E>)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::key(v.into_deserializer() as de::value::U64Deserializer<E>)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::key(v.into_deserializer() as de::value::StrDeserializer<E>)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Self::key(v.into_deserializer() as de::value::StringDeserializer<E>)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ForeignKey::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ForeignKey::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ForeignKey::to)
    }
}

impl<T: Model + Serialize> Serialize for RelatedSet<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.rows {
            Some(rows) => {
                crate::eval::observe::read(self.meta);
                s.collect_seq(rows.iter())
            }
            None => s.serialize_none(),
        }
    }
}

impl<'de, T: Model + Deserialize<'de>> Deserialize<'de> for RelatedSet<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(RowsOrNothing(PhantomData))
    }
}

struct RowsOrNothing<T>(PhantomData<T>);

impl<'de, T: Model + Deserialize<'de>> Visitor<'de> for RowsOrNothing<T> {
    type Value = RelatedSet<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {} or null", T::META.name)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RelatedSet::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RelatedSet::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(row) = seq.next_element()? {
            rows.push(row);
        }
        Ok(RelatedSet {
            rows: Some(Arc::new(rows)),
            meta: None,
        })
    }
}
