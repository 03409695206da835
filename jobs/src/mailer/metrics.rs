//! Email delivery metrics, registered in the worker's registry: deliveries by outcome, and the
//! configuration faults (SMTP authentication, TLS) an operator must fix.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    fault: &'static str,
}

/// `veza_email_deliveries{outcome}` and `veza_email_config_faults{fault}`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryMetrics {
    deliveries: Family<OutcomeLabels, Counter>,
    config_faults: Family<FaultLabels, Counter>,
}

impl DeliveryMetrics {
    /// Creates the counters and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "veza_email_deliveries",
            "Email jobs by outcome (sent, rejected, rate-limited, opted-out, deferred, failed)",
            metrics.deliveries.clone(),
        );
        registry.register(
            "veza_email_config_faults",
            "SMTP failures that are our configuration's fault (auth, tls): mail waits until fixed",
            metrics.config_faults.clone(),
        );
        metrics
    }

    /// Counts an email job's outcome.
    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts a configuration fault.
    pub fn config_fault(&self, fault: &'static str) {
        self.config_faults.get_or_create(&FaultLabels { fault }).inc();
    }

    /// Configuration faults counted so far (for tests and health checks).
    pub fn config_faults(&self, fault: &'static str) -> u64 {
        self.config_faults.get_or_create(&FaultLabels { fault }).get()
    }
}
