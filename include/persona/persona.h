/*
 * persona.h - the whole public API of libpersona in one include.
 *
 * Each module has its own header (one per .c pair, named after its main
 * struct); include just the one you need, or this file for all of them.
 * See docs/ARCHITECTURE.md for where each module sits in the data flow.
 */
#ifndef PERSONA_H
#define PERSONA_H

#include "persona/afile.h"
#include "persona/audience.h"
#include "persona/bert.h"
#include "persona/bpe_train.h"
#include "persona/clean.h"
#include "persona/cluster_metrics.h"
#include "persona/config.h"
#include "persona/copy.h"
#include "persona/core.h"
#include "persona/demo.h"
#include "persona/features.h"
#include "persona/gpt2.h"
#include "persona/hash.h"
#include "persona/kmeans.h"
#include "persona/lda.h"
#include "persona/lm.h"
#include "persona/log.h"
#include "persona/metrics.h"
#include "persona/npy.h"
#include "persona/pca.h"
#include "persona/pool.h"
#include "persona/profile.h"
#include "persona/progress.h"
#include "persona/reader.h"
#include "persona/recommend.h"
#include "persona/report.h"
#include "persona/rfm.h"
#include "persona/rng.h"
#include "persona/safetensors.h"
#include "persona/sampler.h"
#include "persona/scaler.h"
#include "persona/schema.h"
#include "persona/segment.h"
#include "persona/status.h"
#include "persona/store.h"
#include "persona/tagrule.h"
#include "persona/textprep.h"
#include "persona/timeparse.h"
#include "persona/tokenizer.h"
#include "persona/train.h"
#include "persona/uplift.h"
#include "persona/workspace.h"

#endif
