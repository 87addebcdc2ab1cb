//! Metric families of the trail area.
