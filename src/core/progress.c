/* progress.c - terminal progress bar on stderr (see progress.h). */
#include "persona/progress.h"
#include "persona/core.h"

#include <stdio.h>
#include <unistd.h>

static int quiet;

void ps_progress_set_quiet(int q)
{
    quiet = q;
}

void ps_progress_begin(struct ps_progress *p, const char *label, uint64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = p->last = ps_now();
    p->active = !quiet && isatty(2);
}

void ps_progress_update(struct ps_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->active)
        return;
    double now = ps_now();
    if (now - p->last < 0.1)
        return;
    p->last = now;
    double el = now - p->start;
    if (p->total) {
        double f = (double)done / (double)p->total;
        int w = (int)(f * 30);
        char bar[31];
        for (int i = 0; i < 30; i++)
            bar[i] = i < w ? '#' : '.';
        bar[30] = '\0';
        double eta = f > 0 ? el / f - el : 0;
        fprintf(stderr, "\r%s [%s] %5.1f%%  %.0fs left ", p->label, bar, 100 * f, eta);
    } else {
        fprintf(stderr, "\r%s %llu  %.1fs ", p->label, (unsigned long long)done, el);
    }
    fflush(stderr);
}

void ps_progress_end(struct ps_progress *p)
{
    if (!p->active)
        return;
    fprintf(stderr, "\r%s done in %.1fs%30s\n", p->label, ps_now() - p->start, "");
    p->active = 0;
}
