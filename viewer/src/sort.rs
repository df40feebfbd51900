//! The order in which clients send a study and masks map onto it: by series, then by
//! position along the slice normal, then timepoint.

use crate::InstanceInfo;

/// Positions closer than this (mm) are the same slice.
const SAME_POSITION: f64 = 1e-3;

/// One series in display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedSeries {
    /// The series.
    pub series_instance_uid: String,
    /// `timepoints[t][z]`: indices into the input list. Every timepoint holds the slices in
    /// order along the normal; a series without geometry is one timepoint in input order.
    pub timepoints: Vec<Vec<usize>>,
}

impl SortedSeries {
    /// Slices per timepoint (the depth of a 3D mask for this series).
    pub fn depth(&self) -> usize {
        self.timepoints.first().map_or(0, Vec::len)
    }

    /// The order to send the instances in: position by position, timepoints within each.
    pub fn send_order(&self) -> Vec<usize> {
        let depth = self.timepoints.iter().map(Vec::len).max().unwrap_or(0);
        (0..depth).flat_map(|z| self.timepoints.iter().filter_map(move |t| t.get(z).copied())).collect()
    }
}

/// Groups instances by series (in order of first appearance) and sorts each series along its
/// slice normal; images sharing a position are split into timepoints (by
/// TemporalPositionIdentifier, then InstanceNumber, then input order). Series in which some
/// image lacks geometry keep their input order.
///
/// ```
/// use arterys_viewer::{sort_study, InstanceInfo};
/// let img = |uid: &str, z: f64| InstanceInfo {
///     sop_instance_uid: uid.into(), sop_class_uid: None, series_instance_uid: "s".into(),
///     study_instance_uid: None, modality: None, rows: 1, columns: 1, number_of_frames: 1,
///     image_position: Some([0.0, 0.0, z]), image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
///     instance_number: None, temporal_position: None, window: None,
/// };
/// let s = sort_study(&[img("a", 5.0), img("b", -2.0), img("c", 1.0)]);
/// assert_eq!(s[0].timepoints, vec![vec![1, 2, 0]]);
/// ```
pub fn sort_study(infos: &[InstanceInfo]) -> Vec<SortedSeries> {
    let mut series: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        match series.iter_mut().find(|(uid, _)| *uid == info.series_instance_uid) {
            Some((_, members)) => members.push(i),
            None => series.push((info.series_instance_uid.clone(), vec![i])),
        }
    }
    series
        .into_iter()
        .map(|(uid, members)| SortedSeries { series_instance_uid: uid, timepoints: order_series(infos, members) })
        .collect()
}

fn order_series(infos: &[InstanceInfo], members: Vec<usize>) -> Vec<Vec<usize>> {
    let positions: Option<Vec<f64>> = members.iter().map(|&i| infos[i].slice_position()).collect();
    let Some(positions) = positions else {
        return vec![members];
    };
    let mut order: Vec<(f64, usize)> = positions.into_iter().zip(members).collect();
    order.sort_by(|a, b| {
        a.0.total_cmp(&b.0).then_with(|| {
            let key = |i: usize| (infos[i].temporal_position, infos[i].instance_number, i);
            key(a.1).cmp(&key(b.1))
        })
    });
    // Group equal positions; the k-th image at each position belongs to timepoint k.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut last = f64::NAN;
    for (pos, i) in order {
        match groups.last_mut() {
            Some(g) if (pos - last).abs() <= SAME_POSITION => g.push(i),
            _ => groups.push(vec![i]),
        }
        last = pos;
    }
    let timepoints = groups.iter().map(Vec::len).max().unwrap_or(1);
    (0..timepoints).map(|t| groups.iter().filter_map(|g| g.get(t).copied()).collect()).collect()
}
