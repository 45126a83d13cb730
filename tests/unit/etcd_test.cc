// etcd's v3 JSON gateway codec (ringway/etcd.h): base64, key ranges, request bodies and the
// parsers, on answers captured from etcd 3.4.23.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "ringway/etcd.h"

namespace ringway::etcd {
namespace {

// The header etcd puts on every answer (captured), with `revision`.
std::string header(int revision) {
  return R"("header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709",)"
         R"("revision":")" +
         std::to_string(revision) + R"(","raft_term":"2"})";
}

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  for (size_t n = 0; n <= all.size(); n += (n < 8 ? 1 : 37)) {
    std::string s = all.substr(all.size() - n);
    std::string enc = base64_encode(s);
    EXPECT_EQ(enc.size() % 4, 0u);
    EXPECT_EQ(base64_decode(enc), s) << n;
  }
}

TEST(Base64, KnownValuesAndPadding) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("/r/apis/y"), "L3IvYXBpcy95");  // as etcd spells the key
  EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zg"), "f");  // padding is optional
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("L3IvX3B1c2g="), "/r/_push");
}

TEST(Base64, RejectsInvalidInput) {
  EXPECT_EQ(base64_decode("Z"), std::nullopt);      // one character cannot hold a byte
  EXPECT_EQ(base64_decode("Zm9vY"), std::nullopt);  // nor can a group of one
  EXPECT_EQ(base64_decode("Zm9v!A=="), std::nullopt);
  EXPECT_EQ(base64_decode("Zm 9v"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm-_"), std::nullopt);  // the URL alphabet is not etcd's
}

TEST(PrefixEnd, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(prefix_end("/r/"), "/r0");
  EXPECT_EQ(prefix_end("a"), "b");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("a\x01\xff\xff", 4)), std::string("a\x02", 2));
  EXPECT_EQ(prefix_end("\xff\xff"), std::string(1, '\0'));  // every key
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(Requests, HttpRequestIsHttp10WithLength) {
  EXPECT_EQ(http_request("127.0.0.1:2379", "/v3/kv/range", "{}"),
            "POST /v3/kv/range HTTP/1.0\r\nHost: 127.0.0.1:2379\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
}

TEST(Requests, BodiesAreJsonWithBase64Keys) {
  EXPECT_EQ(range_body("/r/"), R"({"key":"L3Iv","range_end":"L3Iw"})");
  EXPECT_EQ(watch_body("/r/", 7),
            R"({"create_request":{"key":"L3Iv","range_end":"L3Iw","start_revision":"7"}})");
  TxnOps ops{"/r/", 6, {{"/r/apis/x", "{}"}}, {"/r/apis/y"}};
  std::string body = txn_body(ops);
  EXPECT_EQ(body, R"({"compare":[{"target":"MOD","result":"LESS","key":"L3Iv","range_end":"L3Iw",)"
                  R"("mod_revision":"7"}],"success":[{"request_put":{"key":"L3IvYXBpcy94",)"
                  R"("value":"e30="}},{"request_delete_range":{"key":"L3IvYXBpcy95"}}]})");
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.parse(body).error(), simdjson::SUCCESS);
  ops.puts.clear();
  ops.deletes.clear();
  EXPECT_EQ(parser.parse(txn_body(ops)).error(), simdjson::SUCCESS);
}

TEST(SplitResponse, StatusAndBody) {
  std::string ok =
      "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  auto a = split_response(ok);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "{}");
  // etcd's error answer, close-delimited (no Content-Length), as captured.
  std::string bad =
      "HTTP/1.0 400 Bad Request\r\nContent-Type: application/json\r\n"
      "Trailer: Grpc-Trailer-Content-Type\r\n\r\n"
      R"({"error":"etcdserver: too many operations in txn request","message":"etcdserver: )"
      R"(too many operations in txn request","code":3})";
  a = split_response(bad);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 400);
  EXPECT_EQ(parse_txn(a->body).error, "etcd: etcdserver: too many operations in txn request");
  EXPECT_EQ(split_response("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n"), std::nullopt);
  EXPECT_EQ(split_response("SSH-2.0\r\n\r\n"), std::nullopt);
  EXPECT_EQ(split_response("HTTP/1.0 2x0 OK\r\n\r\n"), std::nullopt);
  EXPECT_EQ(split_response("HTTP/1.0\r\n\r\n"), std::nullopt);
}

TEST(ParseRange, CapturedAnswer) {
  RangeResult r = parse_range(
      "{" + header(6) +
      R"(,"kvs":[{"key":"L3IvYXBpcy94","create_revision":"2","mod_revision":"5",)"
      R"("version":"2","value":"eyJuYW1lIjoieCJ9"},{"key":"L3IvYXBpcy95",)"
      R"("create_revision":"6","mod_revision":"6","version":"1","value":"eyJuYW1lIjoieSJ9"}],)"
      R"("count":"2"})");
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.revision, 6);
  ASSERT_EQ(r.kvs.size(), 2u);
  EXPECT_EQ(r.kvs[0].key, "/r/apis/x");
  EXPECT_EQ(r.kvs[0].value, R"({"name":"x"})");
  EXPECT_EQ(r.kvs[0].mod_revision, 5);
  EXPECT_EQ(r.kvs[1].key, "/r/apis/y");
  EXPECT_EQ(r.kvs[1].mod_revision, 6);
}

TEST(ParseRange, EmptyRangeHasNoKvs) {
  RangeResult r = parse_range("{" + header(9) + "}");  // captured: no "kvs", no "count"
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.revision, 9);
  EXPECT_TRUE(r.kvs.empty());
}

TEST(ParseRange, Errors) {
  EXPECT_EQ(parse_range("not json").error, "etcd: malformed answer");
  EXPECT_EQ(parse_range("[]").error, "etcd: malformed answer");
  EXPECT_EQ(parse_range(R"({"kvs":[]})").error, "etcd: answer without a header");
  EXPECT_EQ(parse_range("{" + header(3) + R"(,"kvs":[{"key":"!!"}]})").error,
            "etcd: malformed key-value");
  EXPECT_EQ(parse_range("{" + header(3) + R"(,"kvs":[],"more":true})").error,
            "etcd: range answer truncated (more: true)");
  // A captured error answer.
  EXPECT_EQ(parse_range(R"({"error":"invalid character 'g' looking for beginning of value",)"
                        R"("message":"invalid character 'g' looking for beginning of value",)"
                        R"("code":3})")
                .error,
            "etcd: invalid character 'g' looking for beginning of value");
}

TEST(ParseWatchLine, Created) {
  WatchMessage m = parse_watch_line(R"({"result":{)" + header(9) + R"(,"created":true}})");
  EXPECT_EQ(m.error, "");
  EXPECT_TRUE(m.created);
  EXPECT_FALSE(m.canceled);
  EXPECT_EQ(m.revision, 9);
  EXPECT_TRUE(m.events.empty());
}

TEST(ParseWatchLine, PutAndDeleteEvents) {
  WatchMessage put = parse_watch_line(
      R"({"result":{)" + header(9) +
      R"(,"events":[{"kv":{"key":"L3IvX3B1c2g=","create_revision":"7","mod_revision":"8",)"
      R"("version":"2","value":"YQ=="}}]}})");
  ASSERT_EQ(put.error, "");
  ASSERT_EQ(put.events.size(), 1u);
  EXPECT_FALSE(put.events[0].is_delete);  // etcd leaves "type" out for PUT (its zero value)
  EXPECT_EQ(put.events[0].kv.key, "/r/_push");
  EXPECT_EQ(put.events[0].kv.value, "a");
  EXPECT_EQ(put.events[0].kv.mod_revision, 8);
  WatchMessage del = parse_watch_line(
      R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"4","raft_term":"2"},)"
      R"("events":[{"type":"DELETE","kv":{"key":"L3IvYXBpcy95","mod_revision":"4"}}]}})");
  ASSERT_EQ(del.error, "");
  EXPECT_EQ(del.revision, 4);
  ASSERT_EQ(del.events.size(), 1u);
  EXPECT_TRUE(del.events[0].is_delete);
  EXPECT_EQ(del.events[0].kv.key, "/r/apis/y");
  EXPECT_EQ(del.events[0].kv.value, "");
  EXPECT_EQ(del.events[0].kv.mod_revision, 4);
}

TEST(ParseWatchLine, CanceledByCompaction) {
  // Captured: a watch from revision 3 after `etcdctl compact 8`.
  WatchMessage m = parse_watch_line(
      R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":)"
      R"("13668033151171901709","raft_term":"2"},"canceled":true,"compact_revision":"8"}})");
  EXPECT_EQ(m.error, "");
  EXPECT_TRUE(m.canceled);
  EXPECT_EQ(m.compact_revision, 8);
  EXPECT_EQ(m.revision, 0);  // the canceled message's header has no revision
}

TEST(ParseWatchLine, Errors) {
  EXPECT_EQ(parse_watch_line("").error, "etcd: malformed answer");
  EXPECT_EQ(parse_watch_line("{}").error, "etcd: watch message without a result");
  EXPECT_EQ(parse_watch_line(R"({"result":{"events":[{"kv":{"key":"%%"}}]}})").error,
            "etcd: malformed watch event");
  EXPECT_EQ(parse_watch_line(R"({"error":{"grpc_code":1,"http_code":408,"message":"x"}})").error,
            "etcd: watch message without a result");
  EXPECT_EQ(parse_watch_line(R"({"error":"boom","code":14})").error, "etcd: boom");
}

TEST(ParseTxn, SucceededAndFailed) {
  TxnResult ok =
      parse_txn("{" + header(7) +
                R"(,"succeeded":true,"responses":[{"response_put":{"header":{"revision":"7"}}}]})");
  EXPECT_EQ(ok.error, "");
  EXPECT_TRUE(ok.succeeded);
  EXPECT_EQ(ok.revision, 7);
  TxnResult failed = parse_txn("{" + header(7) + "}");  // captured: "succeeded" left out
  EXPECT_EQ(failed.error, "");
  EXPECT_FALSE(failed.succeeded);
  EXPECT_EQ(failed.revision, 7);
  EXPECT_EQ(parse_txn("").error, "etcd: malformed answer");
  EXPECT_EQ(parse_txn(R"({"error":"etcdserver: request timed out","code":14})").error,
            "etcd: etcdserver: request timed out");
}

}  // namespace
}  // namespace ringway::etcd
