// The metric rows of a compiled configuration (proxy::MetricRows, GuardRule::metrics_row):
// one per label set its names give, made in the node's metrics::Store.
//
// Thread affinity: control thread (Store::row).
#pragma once

#include <string_view>

#include "control/snapshot.h"
#include "ringway/metrics.h"

namespace ringway::control {

// Fills c->metric_rows and every guard rule's metrics_row; `c` is not yet published.
void assign_metric_rows(metrics::Store& store, proxy::Compiled* c);

}  // namespace ringway::control
