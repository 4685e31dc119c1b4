//! Plain-text tables for the terminal: each column as wide as its widest cell.

/// `rows` as lines: columns two spaces apart, each as wide as its widest cell (counted in
/// characters, so Hebrew names line up too), right-aligned where `right[i]` (numbers);
/// trailing spaces trimmed.
pub(crate) fn lines(rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, &w))| {
                    if right.get(i).copied().unwrap_or(false) {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec!["partner".to_owned(), "rows".to_owned()],
            vec!["health_fund_north".to_owned(), "7".to_owned()],
            vec!["מרפאה".to_owned(), "1234".to_owned()],
        ];
        assert_eq!(
            super::lines(&rows, &[false, true]),
            [
                "partner            rows",
                "health_fund_north     7",
                "מרפאה              1234"
            ]
        );
    }
}
