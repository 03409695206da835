//! A job's two spellings. Veza's tables and the API use a UUIDv7; apalis-postgres insists on
//! ULID task ids. Both are the same 128 bits (each starts with a 48-bit millisecond time), so
//! [`task_id`] and [`job_id`] convert between them without a lookup.

use ulid::Ulid;
use uuid::Uuid;

/// The apalis spelling (a ULID string) of a Veza job id.
pub fn task_id(job_id: Uuid) -> String {
    Ulid::from_bytes(*job_id.as_bytes()).to_string()
}

/// The Veza job id of an apalis task id; `None` when it is not a ULID (not enqueued by Veza).
pub fn job_id(task_id: &str) -> Option<Uuid> {
    Ulid::from_string(task_id)
        .ok()
        .map(|ulid| Uuid::from_bytes(ulid.to_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn job_ids_round_trip_through_the_apalis_spelling() {
        let id = Uuid::now_v7();
        let task = task_id(id);
        assert_eq!(task.len(), 26);
        assert_eq!(job_id(&task), Some(id));
        assert_eq!(job_id("not-a-ulid"), None);
    }
}
