//! Metric families of the proxy area.
