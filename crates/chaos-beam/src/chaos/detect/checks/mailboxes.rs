//! Message queues over the threshold (the node reports only those).

use super::*;

pub(crate) struct Mailboxes;

impl Check for Mailboxes {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        for q in &seen.steady.queues {
            let who = q.name.clone().unwrap_or_else(|| q.pid.clone());
            out.push(problem(
                FailureKind::MailboxOverflow,
                who.clone(),
                format!(
                    "{who} ({}, application {}) has {} messages queued (threshold {})",
                    q.pid,
                    q.app.clone().unwrap_or_else(|| "none".into()),
                    q.len,
                    seen.settings.mailbox_threshold
                ),
                false,
            ));
        }
    }
}
