//! Period labels as positions on a time axis: the workspace's [`Period`] seen from the
//! report, where a value's period arrives as its label.

use backbone_schema::Grain;
use backbone_workspace::Period;

/// The grain of a label and its ordinal (consecutive periods of one grain have consecutive
/// ordinals).
pub(crate) fn ordinal(label: &str) -> Option<(Grain, i64)> {
    Period::parse(label).map(|p| (p.grain(), p.ordinal()))
}

/// The label of an ordinal of a grain.
pub(crate) fn label(grain: Grain, ordinal: i64) -> String {
    Period::from_ordinal(grain, ordinal).label()
}

/// Sorts period labels in time order (labels that are not periods last, by text).
pub(crate) fn sort(labels: &mut [String]) {
    backbone_workspace::sort_labels(labels);
}
