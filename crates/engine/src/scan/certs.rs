//! The Authenticode check of an executable layer.

use super::{Found, Layer, Scanner};
use crate::auth::{self, Outcome};
use crate::pe::{self, Pe};

impl Scanner<'_> {
    /// `Some(None)`: the executable is trusted and clean;
    /// `Some(Some(found))`: a block rule named it; `None`: the signatures
    /// decide.
    pub(super) fn authenticode(
        &self,
        layer: &Layer<'_>,
    ) -> Option<Option<Found>> {
        if !self.options.certs
            || !self.db.certs_wanted()
            || !matches!(pe::parse(layer.data), Pe::Valid(_))
        {
            return None;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match auth::check_pe(layer.data, self.db, now, &|| self.allowed(layer))
        {
            Outcome::Trusted => Some(None),
            // The rule's own name: clamscan never suffixes it.
            Outcome::Blocked(name) => Some(Some(Found {
                name: name.unwrap_or_else(|| "(unnamed CRB rule)".into()),
                path: Vec::new(),
                part: None,
            })),
            Outcome::Unknown => None,
        }
    }
}
