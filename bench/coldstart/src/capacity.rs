//! DynamoDB on-demand request units, counted from each call's item sizes as DynamoDB bills
//! them: a read is one read request unit per 4 KB of the items read (half for an eventually
//! consistent read, at least one unit or half); a write is one write request unit per 1 KB of
//! the larger of the item before and after (at least one); a transaction's writes cost twice.
//! moto reports no sizes (its `ConsumedCapacity` is a constant), so the AWS timer reads each
//! written item before and after the write (`aws_timer`, counting mode) and these functions
//! turn the sizes into units.
//!
//! An item's size is the sum of its attribute names' and values' sizes: a string's UTF-8
//! length, a number's (about one byte per two significant digits, plus one), a binary's length,
//! one byte for a boolean or null, and for a list or map 3 bytes plus one per element plus
//! the elements (a map's element also its name).

use serde_json::{Map, Value};

/// Units of one call or of many.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl std::ops::AddAssign for Units {
    fn add_assign(&mut self, other: Units) {
        self.read += other.read;
        self.write += other.write;
    }
}

/// The size in bytes of an item in DynamoDB's JSON (`{"name": {"S": "..."}, ...}`).
pub fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

/// The size of one attribute value (`{"S": "..."}`, `{"N": "12"}`, `{"M": {...}}`...).
fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|object| object.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, number_size),
        // Base64 in JSON: the size is the decoded length.
        "B" => inner.as_str().map_or(0, |b| (b.trim_end_matches('=').len() as u64 * 3) / 4),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" | "BS" => inner.as_array().map_or(0, |set| {
            set.iter()
                .filter_map(Value::as_str)
                .map(|element| match kind.as_str() {
                    "NS" => number_size(element),
                    "BS" => (element.trim_end_matches('=').len() as u64 * 3) / 4,
                    _ => element.len() as u64,
                })
                .sum()
        }),
        "L" => inner.as_array().map_or(3, |list| 3 + list.iter().map(|element| 1 + value_size(element)).sum::<u64>()),
        "M" => inner.as_object().map_or(3, |map| {
            3 + map.iter().map(|(name, element)| 1 + name.len() as u64 + value_size(element)).sum::<u64>()
        }),
        _ => 0,
    }
}

/// About one byte per two significant digits, plus one.
fn number_size(number: &str) -> u64 {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    significant.div_ceil(2) + 1
}

/// Read request units for reading `bytes` (one item, or a query's items together).
pub fn read_units(bytes: u64, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Write request units for writing an item whose size is `before` and then `after` bytes
/// (0 when there is none), twice as many in a transaction.
pub fn write_units(before: u64, after: u64, transactional: bool) -> f64 {
    let units = before.max(after).div_ceil(1024).max(1) as f64;
    if transactional { 2.0 * units } else { units }
}

/// The units of a read call (`GetItem`, `Query`) from its request and its answer.
pub fn read_call_units(operation: &str, request: &Value, answer: &Value) -> Option<Units> {
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    let bytes = match operation {
        "GetItem" => answer["Item"].as_object().map_or(0, item_size),
        "Query" | "Scan" => {
            answer["Items"].as_array().map_or(0, |items| items.iter().filter_map(Value::as_object).map(item_size).sum())
        }
        "TransactGetItems" => {
            let items = answer["Responses"].as_array()?;
            let units =
                items.iter().map(|item| 2.0 * read_units(item["Item"].as_object().map_or(0, item_size), true)).sum();
            return Some(Units { read: units, write: 0.0 });
        }
        _ => return None,
    };
    Some(Units { read: read_units(bytes, consistent), write: 0.0 })
}

/// The items a write call changes (table, key), in order, and whether it is a transaction: what
/// the timer reads before and after the write.
pub fn written_keys(operation: &str, request: &Value, key_names: &dyn Fn(&str) -> Vec<String>) -> Vec<(String, Value)> {
    let key_of = |table: &str, item: &Value| -> Value {
        let names = key_names(table);
        let key: Map<String, Value> =
            names.iter().filter_map(|name| Some((name.clone(), item.get(name)?.clone()))).collect();
        Value::Object(key)
    };
    let table = |request: &Value| request["TableName"].as_str().unwrap_or_default().to_string();
    match operation {
        "PutItem" => vec![(table(request), key_of(&table(request), &request["Item"]))],
        "UpdateItem" | "DeleteItem" => vec![(table(request), request["Key"].clone())],
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .map(|actions| {
                actions
                    .iter()
                    .filter_map(|action| {
                        let (kind, body) = action.as_object()?.iter().next()?;
                        let table = table(body);
                        let key = if kind == "Put" { key_of(&table, &body["Item"]) } else { body["Key"].clone() };
                        Some((table, key))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The write units of a write call, from the sizes of the items it names before and after it
/// (in `written_keys`'s order). A condition check in a transaction is priced as a write of its
/// item, and a write whose condition failed as the write it would have made.
pub fn write_call_units(operation: &str, sizes: &[(u64, u64)]) -> Units {
    let transactional = operation == "TransactWriteItems";
    Units { read: 0.0, write: sizes.iter().map(|(before, after)| write_units(*before, *after, transactional)).sum() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let item = json!({
            "pk": {"S": "CUSTOMER#1"},          // 2 + 10
            "n": {"N": "12345"},                // 1 + 3 + 1
            "ok": {"BOOL": true},               // 2 + 1
            "m": {"M": {"a": {"S": "xy"}}},     // 1 + 3 + 1 + 1 + 2
            "l": {"L": [{"N": "7"}]},           // 1 + 3 + 1 + 2
        });
        assert_eq!(item_size(item.as_object().unwrap()), 12 + 5 + 3 + 8 + 7);
    }

    #[test]
    fn units_round_up_and_have_a_minimum() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(100, false), 0.5);
        assert_eq!(write_units(0, 0, false), 1.0);
        assert_eq!(write_units(900, 1500, false), 2.0);
        assert_eq!(write_units(10, 10, true), 2.0);
    }
}
