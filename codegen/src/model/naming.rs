//! Identifier case conversion, shared by the `naming:` setting and by cross-engine
//! comparisons (Chinook is PascalCase in MySQL/SQLite and snake_case in PostgreSQL).

/// `InvoiceLine` -> `invoice_line`, `HTTPServer` -> `http_server`, `Address2` -> `address2`.
/// Already-snake names and non-ASCII letters pass through (lower-cased).
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        if c == ' ' || c == '-' {
            out.push('_');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn converts_pascal_camel_and_acronyms() {
        for (from, to) in [
            ("InvoiceLine", "invoice_line"),
            ("CustomerId", "customer_id"),
            ("BillingPostalCode", "billing_postal_code"),
            ("HTTPServer", "http_server"),
            ("userID", "user_id"),
            ("already_snake", "already_snake"),
            ("Address2", "address2"),
            ("Unit Price", "unit_price"),
        ] {
            assert_eq!(snake_case(from), to, "{from}");
        }
    }
}
