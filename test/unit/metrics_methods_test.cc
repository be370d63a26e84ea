// The per-method families and gRFC A96's histograms (src/metrics.c,
// src/metrics_method.c): their exact series for hand-built snapshots.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "grpcr/metrics.h"
#include "metrics_test_util.h"

namespace {

TEST(MetricsMethodsTest, PerMethodSeriesCarryTheMethodLabel) {
  grpcr_channel_snapshot s = Channel("a", "t");
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  std::string m = Render({s});
  EXPECT_EQ((std::vector<std::string>{
                "grpcr_method_requests_total{channel=\"a\",target=\"t\","
                "method=\"echo.Echo/Say\"} 3",
                "grpcr_method_requests_total{channel=\"a\",target=\"t\","
                "method=\"other\"} 1"}),
            LinesStarting(m, "grpcr_method_requests_total{"));
  EXPECT_EQ((std::vector<std::string>{
                "grpcr_method_retries_total{channel=\"a\",target=\"t\","
                "method=\"echo.Echo/Say\"} 2",
                "grpcr_method_retries_total{channel=\"a\",target=\"t\","
                "method=\"other\"} 0"}),
            LinesStarting(m, "grpcr_method_retries_total{"));
  std::vector<std::string> calls = LinesStarting(
      m, "grpcr_method_calls_total{channel=\"a\",target=\"t\","
         "method=\"echo.Echo/Say\",code=\"UNAVAILABLE\"}");
  EXPECT_EQ(std::vector<std::string>{calls.empty() ? "" : calls[0]},
            std::vector<std::string>{
                "grpcr_method_calls_total{channel=\"a\",target=\"t\","
                "method=\"echo.Echo/Say\",code=\"UNAVAILABLE\"} 1"});
  EXPECT_EQ(2u * GRPCR_STATUS_COUNT,
            LinesStarting(m, "grpcr_method_calls_total{").size());
}

TEST(MetricsMethodsTest, A96HistogramsExactly) {
  grpcr_channel_snapshot s = Channel("a", "dns:///t:1");
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  std::string m = Render({s});
  const char kRetries[] =
      "# HELP grpc_client_call_retries Retries per call, for calls that "
      "retried (gRFC A96 grpc.client.call.retries).\n"
      "# TYPE grpc_client_call_retries histogram\n"
      "grpc_client_call_retries_bucket{grpc_method=\"echo.Echo/Say\","
      "grpc_target=\"dns:///t:1\",le=\"1\"} 0\n"
      "grpc_client_call_retries_bucket{grpc_method=\"echo.Echo/Say\","
      "grpc_target=\"dns:///t:1\",le=\"2\"} 1\n";
  EXPECT_NE(std::string::npos, m.find(kRetries)) << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retries_sum{grpc_method=\"echo.Echo/"
                   "Say\",grpc_target=\"dns:///t:1\"} 2\n"
                   "grpc_client_call_retries_count{grpc_method=\"echo.Echo/"
                   "Say\",grpc_target=\"dns:///t:1\"} 1\n"))
      << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retries_count{grpc_method=\"other\","
                   "grpc_target=\"dns:///t:1\"} 0\n"))
      << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retry_delay_seconds_bucket{grpc_method="
                   "\"echo.Echo/Say\",grpc_target=\"dns:///t:1\",le="
                   "\"0.01\"} 0\n"
                   "grpc_client_call_retry_delay_seconds_bucket{grpc_method="
                   "\"echo.Echo/Say\",grpc_target=\"dns:///t:1\",le="
                   "\"0.025\"} 1\n"))
      << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retry_delay_seconds_sum{grpc_method="
                   "\"echo.Echo/Say\",grpc_target=\"dns:///t:1\"} 0.015\n"))
      << m;
  EXPECT_EQ(GRPCR_STATS_RETRIES_BUCKETS * 2,
            LinesStarting(m, "grpc_client_call_retries_bucket{").size());
}

// Channels to the same target are added up, as A96 records per target;
// another target has its own series.
TEST(MetricsMethodsTest, A96AddsUpChannelsOfOneTarget) {
  grpcr_channel_snapshot a = Channel("a", "dns:///t:1");
  grpcr_channel_snapshot b = Channel("b", "dns:///t:1");
  grpcr_channel_snapshot c = Channel("c", "dns:///u:1");
  grpcr_method_snapshot ma[2], mb[2], mc[2];
  AddMethods(&a, ma);
  AddMethods(&b, mb);
  AddMethods(&c, mc);
  std::string m = Render({a, b, c});
  EXPECT_EQ((std::vector<std::string>{
                "grpc_client_call_retries_count{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///t:1\"} 2",
                "grpc_client_call_retries_count{grpc_method=\"other\","
                "grpc_target=\"dns:///t:1\"} 0",
                "grpc_client_call_retries_count{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///u:1\"} 1",
                "grpc_client_call_retries_count{grpc_method=\"other\","
                "grpc_target=\"dns:///u:1\"} 0"}),
            LinesStarting(m, "grpc_client_call_retries_count{"));
  EXPECT_EQ(3u * 2, LinesStarting(m, "grpcr_method_requests_total{").size());
}

// Say hedged three calls, with 1, 1 and 2 hedges: one won, two lost and
// were cancelled, three more refused by the budget; its adaptive delay is
// 12.5 ms over 200 calls. other has no hedges and no delay.
void AddHedges(grpcr_method_snapshot (&m)[2]) {
  m[0].hedges = 4;
  m[0].hedges_won = 1;
  m[0].hedges_cancelled = 2;
  m[0].hedges_denied = 3;
  m[0].hedges_buckets[0] = 2;  // le="1"
  m[0].hedges_buckets[1] = 1;  // le="2"
  m[0].hedged_calls = 3;
  m[0].hedges_sum = 4;
  m[0].hedge_delay_s = 0.0125;
  m[0].hedge_delay_samples = 200;
}

// The text from the line starting with from up to (not including) the
// line starting with to, or to the end.
std::string Section(const std::string& text, const std::string& from,
                    const std::string& to) {
  size_t a = text.find("\n" + from);
  if (a == std::string::npos) return "";
  size_t b = to.empty() ? std::string::npos : text.find("\n" + to, a + 1);
  return b == std::string::npos ? text.substr(a + 1)
                                : text.substr(a + 1, b - a);
}

TEST(MetricsMethodsTest, HedgeFamiliesExactly) {
  grpcr_channel_snapshot s = Channel("a", "dns:///t:1");
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  AddHedges(methods);
  const std::string m = Render({s});
  const char kPerMethod[] =
      R"(# HELP grpcr_method_hedges_total Hedges started (attempts after the first of a hedged call), by method.
# TYPE grpcr_method_hedges_total counter
grpcr_method_hedges_total{channel="a",target="dns:///t:1",method="echo.Echo/Say"} 4
grpcr_method_hedges_total{channel="a",target="dns:///t:1",method="other"} 0
# HELP grpcr_method_hedges_won_total Hedged calls whose result came from a hedge, not the first attempt, by method.
# TYPE grpcr_method_hedges_won_total counter
grpcr_method_hedges_won_total{channel="a",target="dns:///t:1",method="echo.Echo/Say"} 1
grpcr_method_hedges_won_total{channel="a",target="dns:///t:1",method="other"} 0
# HELP grpcr_method_hedges_cancelled_total Attempts of hedged calls cancelled because another attempt answered first, by method.
# TYPE grpcr_method_hedges_cancelled_total counter
grpcr_method_hedges_cancelled_total{channel="a",target="dns:///t:1",method="echo.Echo/Say"} 2
grpcr_method_hedges_cancelled_total{channel="a",target="dns:///t:1",method="other"} 0
# HELP grpcr_method_hedges_denied_total Hedges the retry budget refused (the call went on with the attempts running), by method.
# TYPE grpcr_method_hedges_denied_total counter
grpcr_method_hedges_denied_total{channel="a",target="dns:///t:1",method="echo.Echo/Say"} 3
grpcr_method_hedges_denied_total{channel="a",target="dns:///t:1",method="other"} 0
# HELP grpcr_method_hedge_delay_seconds The adaptive hedging delay (maxExtraLoad) last computed: the latency at quantile 1 - maxExtraLoad over the last 10 s (0 while unknown), by method.
# TYPE grpcr_method_hedge_delay_seconds gauge
grpcr_method_hedge_delay_seconds{channel="a",target="dns:///t:1",method="echo.Echo/Say"} 0.0125
grpcr_method_hedge_delay_seconds{channel="a",target="dns:///t:1",method="other"} 0
)";
  EXPECT_EQ(kPerMethod, Section(m, "# HELP grpcr_method_hedges_total ",
                                "# HELP grpcr_method_calls_total "));
  // A96's hedges per call: the retries histogram's bounds, the last family.
  const char kA96[] =
      R"(# HELP grpc_client_call_hedges Hedges per call, for calls that hedged (gRFC A96 grpc.client.call.hedges).
# TYPE grpc_client_call_hedges histogram
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="1"} 2
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="2"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="3"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="4"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="5"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="10"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="20"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="50"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="100"} 3
grpc_client_call_hedges_bucket{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1",le="+Inf"} 3
grpc_client_call_hedges_sum{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1"} 4
grpc_client_call_hedges_count{grpc_method="echo.Echo/Say",grpc_target="dns:///t:1"} 3
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="1"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="2"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="3"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="4"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="5"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="10"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="20"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="50"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="100"} 0
grpc_client_call_hedges_bucket{grpc_method="other",grpc_target="dns:///t:1",le="+Inf"} 0
grpc_client_call_hedges_sum{grpc_method="other",grpc_target="dns:///t:1"} 0
grpc_client_call_hedges_count{grpc_method="other",grpc_target="dns:///t:1"} 0
)";
  EXPECT_EQ(kA96, Section(m, "# HELP grpc_client_call_hedges ", ""));
  // Hedges are not retries per method: the retries histogram is Say's
  // retried call alone.
  EXPECT_EQ(std::vector<std::string>{
                "grpc_client_call_retries_count{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///t:1\"} 1"},
            LinesStarting(m, "grpc_client_call_retries_count{grpc_method="
                             "\"echo.Echo/Say\""));
}

// Channels to the same target add up their hedges per call too.
TEST(MetricsMethodsTest, A96HedgesAddUpChannelsOfOneTarget) {
  grpcr_channel_snapshot a = Channel("a", "dns:///t:1");
  grpcr_channel_snapshot b = Channel("b", "dns:///t:1");
  grpcr_method_snapshot ma[2], mb[2];
  AddMethods(&a, ma);
  AddMethods(&b, mb);
  AddHedges(ma);
  AddHedges(mb);
  mb[0].hedges_buckets[4] = 1;  // one more call, with 5 hedges
  mb[0].hedged_calls = 4;
  mb[0].hedges_sum = 9;
  const std::string m = Render({a, b});
  EXPECT_EQ((std::vector<std::string>{
                "grpc_client_call_hedges_sum{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///t:1\"} 13",
                "grpc_client_call_hedges_sum{grpc_method=\"other\","
                "grpc_target=\"dns:///t:1\"} 0"}),
            LinesStarting(m, "grpc_client_call_hedges_sum{"));
  EXPECT_EQ((std::vector<std::string>{
                "grpc_client_call_hedges_count{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///t:1\"} 7",
                "grpc_client_call_hedges_count{grpc_method=\"other\","
                "grpc_target=\"dns:///t:1\"} 0"}),
            LinesStarting(m, "grpc_client_call_hedges_count{"));
  // The channel-level counters stay per channel.
  EXPECT_EQ((std::vector<std::string>{
                "grpcr_hedges_total{channel=\"a\",target=\"dns:///t:1\"} 1",
                "grpcr_hedges_total{channel=\"b\",target=\"dns:///t:1\"} 1"}),
            LinesStarting(m, "grpcr_hedges_total{"));
}

TEST(MetricsMethodsTest, NoMethodsNoFamilies) {
  std::string m = Render({Channel("a", "t")});
  EXPECT_EQ(std::string::npos, m.find("grpcr_method_")) << m;
  EXPECT_EQ(std::string::npos, m.find("grpc_client_call_")) << m;
}

}  // namespace
