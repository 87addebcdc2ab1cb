//! Metric families of the policy area.
