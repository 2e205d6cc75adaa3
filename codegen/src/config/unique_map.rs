//! A map that refuses repeated keys while it is being deserialized.
//!
//! serde's `BTreeMap` keeps the last of two equal keys without a word, so a config
//! with `Invoice:` twice under `mappings:` would silently lose the first mapping, and
//! YAML parsers accept repeated keys. [`UniqueMap`] is a `BTreeMap` whose `Deserialize`
//! raises an error on the second occurrence instead. The error is raised inside the map
//! visitor, so serde_yaml attaches the key path (`mappings`) and a location to it;
//! [`super::yaml_error`] turns that into `seaway.yaml:L: duplicate key ...`.

use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// The start of the message a repeated key produces; `yaml_error` recognises it.
pub const DUPLICATE_KEY: &str = "duplicate key `";

/// A `BTreeMap` that fails to deserialize when a key appears twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueMap<K, V>(BTreeMap<K, V>);

impl<K, V> UniqueMap<K, V> {
    pub fn into_inner(self) -> BTreeMap<K, V> {
        self.0
    }
}

impl<K, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        UniqueMap(BTreeMap::new())
    }
}

impl<K, V> std::ops::Deref for UniqueMap<K, V> {
    type Target = BTreeMap<K, V>;

    fn deref(&self) -> &BTreeMap<K, V> {
        &self.0
    }
}

impl<K, V> IntoIterator for UniqueMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::collections::btree_map::IntoIter<K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a UniqueMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueMapVisitor(PhantomData))
    }
}

struct UniqueMapVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K, V> Visitor<'de> for UniqueMapVisitor<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    type Value = UniqueMap<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some(key) = access.next_key::<K>()? {
            if map.contains_key(&key) {
                // Before reading the value: the error is about the key.
                return Err(A::Error::custom(format_args!("{DUPLICATE_KEY}{key}`")));
            }
            let value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(UniqueMap(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_distinct_keys_and_refuses_a_repeated_one() {
        let map: UniqueMap<String, u32> = serde_yaml::from_str("b: 2\na: 1\n").unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b"]);
        let err = serde_yaml::from_str::<UniqueMap<String, u32>>("a: 1\nb: 2\na: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("duplicate key `a`"), "{err}");
    }
}
