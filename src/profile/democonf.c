/*
 * democonf.c - the persona.conf that `persona demo DIR` writes beside the
 * demo shop (workspace.h).  The same annotated text as examples/demo.conf
 * except for the input paths, which are relative to DIR here.
 */
#include "persona/afile.h"
#include "persona/workspace.h"

#include <stdio.h>

static const char DEMO_CONF[] =
    "# persona.conf - `persona run persona.conf` runs the whole pipeline on the\n"
    "# demo shop in this folder.  Format and every key: docs/config.md.\n"
    "# Relative paths are relative to this file's folder.\n"
    "\n"
    "[run]\n"
    "workspace = workspace      # output folder (persona.db, report.html, ...)\n"
    "threads = 0                # 0 = all CPUs\n"
    "seed = 42                  # default seed of every random step\n"
    "\n"
    "[input.events]             # required: behaviour log\n"
    "path = events.csv          # comma-separated list; * and ? patterns allowed\n"
    "\n"
    "[input.texts]              # optional: reviews, comments, queries\n"
    "path = texts.csv\n"
    "\n"
    "[input.items]\n"
    "path = items.csv\n"
    "\n"
    "[input.users]              # optional: basic attributes per user\n"
    "path = users.csv\n"
    "\n"
    "[features]\n"
    "# as_of = 2026-04-01       # snapshot time; default: the latest event\n"
    "tz_offset = +00:00         # zone for days, dayparts and weekends\n"
    "\n"
    "[segment]\n"
    "# Every numeric feature column, standardised, k = 6: recovers the six\n"
    "# planted personas (adjusted Rand index 0.89, docs/demo.md).\n"
    "columns = all\n"
    "scale = standard\n"
    "k = 6                      # 0 = choose k in k_min..k_max by silhouette\n"
    "n_init = 4\n"
    "silhouette_max = 5000      # silhouette on a sample of this many users (quadratic cost)\n"
    "lang = en                  # segment names: en or zh\n"
    "\n"
    "[topics]\n"
    "enabled = true\n"
    "k = 8\n"
    "iters = 100\n"
    "lang = auto                # auto, zh or en\n"
    "min_df = 5\n"
    "max_df = 0.5\n"
    "\n"
    "[embed]\n"
    "# auto: the built-in models/persona-small when installed, else the stage\n"
    "# is skipped with a notice; none: off; or a Hugging Face checkpoint folder.\n"
    "model = auto\n"
    "\n"
    "[profile]\n"
    "top_topics = 3             # topics listed per user\n"
    "top_words = 8              # words per topic\n"
    "examples = 3               # example reviews per persona card\n"
    "topic_tag_min = 0.25       # topic weight that makes a topic:<id> interest tag\n"
    "lang = en                  # persona card wording: en or zh\n"
    "\n"
    "[evaluate]\n"
    "# Offline evaluation of the recommender (docs/apply.md): train on the\n"
    "# events before split_at, test on the purchases after it, against the\n"
    "# popularity and random baselines.  The report shows the table.\n"
    "enabled = true\n"
    "split_at = auto            # auto: leave the last 20% of purchases as the test set\n"
    "k = 5,10,20                # cutoffs\n"
    "\n"
    "[report]\n"
    "title = Demo shop - persona report\n"
    "max_points = 2000          # users drawn in the PCA scatter\n"
    "\n"
    "[tags]\n"
    "# Tag rules, one per line: a user gets the tag when the condition holds.\n"
    "# Fields: every feature column, segment, segment_name, rfm_tier, lifecycle,\n"
    "# price_sensitivity, topic_<k>, the users table's columns.  Grammar and\n"
    "# functions: docs/tags.md.  This section ends at the next [section].\n"
    "churn_risk  = recency_days > 60 and frequency >= 3\n"
    "big_spender = total_spend >= p90(total_spend)\n"
    "phone_fan   = top_category_1 in (\"phone\", \"tablet\")\n"
    "night_owl   = share_night > 0.3\n"
    "young_parent_like = age < 35 and top_category_1 in (\"baby\", \"food\")\n";

int ps_run_write_demo_config(const char *path, struct ps_err *err)
{
    struct ps_afile f;
    int rc = ps_afile_open(&f, path, err);
    if (rc)
        return rc;
    fputs(DEMO_CONF, f.fp);
    return ps_afile_commit(&f, err);
}
