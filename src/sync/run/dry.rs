//! `--dry-run` and `--prune-plan`: the plan and the archive step's plan as lines, and the
//! counts the pass would have. Only reads.

use super::super::plan::Plan;
use super::super::report::{self, Summary};
use super::Pass;
use crate::store::Store;

/// `--dry-run` (and `--prune-plan`, the retention lines only): the plan, the archive step's
/// (the very value a pass would apply, on the copies as they are now), and the counts.
pub(super) fn print_dry_run(
    pass: &Pass<'_>,
    plan: &Plan,
    step: Option<(
        crate::sync::offsite::plan::Step,
        &crate::model::ArchiveListing,
    )>,
    summary: &mut Summary,
) {
    if pass.opts.prune_plan {
        print!("{}", report::render_retention(&plan.retention));
        if let Some((step, _)) = &step {
            print!(
                "{}",
                crate::sync::offsite::render_decisions("archive", &step.retention)
            );
        }
        return;
    }
    print_plan(pass.store, plan, summary);
    if let Some((step, listing)) = &step {
        print!("{}", crate::sync::offsite::render_plan(step, listing));
        summary.pruned = step.prune.len();
    } else if pass.settings.archive.is_some() {
        summary.pruned = 0;
    }
}

/// `--dry-run`: the plan as lines, and the counts it would have. What the store holds of each
/// export's task is read (no DBS call in a dry run).
fn print_plan(store: &Store, plan: &Plan, summary: &mut Summary) {
    let tasks = plan
        .exports()
        .filter_map(|e| Some((e.key.clone(), store.read_task(&e.key).ok()??)))
        .collect();
    print!(
        "{}",
        report::render_plan(&plan.actions, &plan.retention, &tasks)
    );
    summary.fetched = plan.fetches().filter(|f| f.resume_from == 0).count();
    summary.resumed = plan.fetches().filter(|f| f.resume_from > 0).count();
    summary.pruned = plan.prune.len();
}
