// Unit tests for src/breaker/rules: downgrade_parameters entries (make_param) and
// match_regex expressions (Match): every operator and its seed UI spelling, nesting, the
// string form, used_params, and each compile error with the element it names.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breaker/rules.h"

namespace ringway::breaker {
namespace {

Param P(std::string_view name, std::string_view type, std::string_view value) {
  std::string error;
  std::optional<Param> p = make_param(name, type, value, &error);
  EXPECT_TRUE(p.has_value()) << name << ": " << error;
  return p ? std::move(*p) : Param{std::string(name), ParamSource::kPath, {}, {}};
}

// The seed's two parameters, then a header, a query parameter and a system value.
std::vector<Param> Params() {
  return {P("reqPath", "path", "path"), P("method", "method", "method"),
          P("size", "header", "X-Size"), P("tier", "query", "tier"),
          P("ip", "system", "source_ip")};
}

Match Compiled(std::string_view json, const std::vector<Param>& params = Params()) {
  std::string error;
  std::optional<Match> m = Match::compile(json, params, &error);
  EXPECT_TRUE(m.has_value()) << json << ": " << error;
  return m ? std::move(*m) : *Match::compile(R"(["reqPath","==",""])", Params(), &error);
}

std::string CompileError(std::string_view json, const std::vector<Param>& params = Params()) {
  std::string error;
  EXPECT_FALSE(Match::compile(json, params, &error).has_value()) << json;
  return error;
}

// Values in Params() order: path, method, size, tier, ip.
struct Request {
  std::string_view v[5];
};

bool Matches(const Match& m, Request r) { return m.matches(r.v); }

TEST(BreakerRules, SeedExample) {
  const std::vector<Param> seed = {P("reqPath", "path", "path"), P("method", "method", "method")};
  Match m = Compiled(R"("[\"reqPath\",\"==\",\"/test\"]")", seed);
  std::string_view hit[] = {"/test", "GET"};
  std::string_view miss[] = {"/test/x", "GET"};
  EXPECT_TRUE(m.matches(hit));
  EXPECT_FALSE(m.matches(miss));
  EXPECT_EQ(m.used_params(), 1u);
}

TEST(BreakerRules, EachOperatorAndItsUiSpelling) {
  const std::pair<std::string_view, std::string_view> kSpellings[] = {
      {"==", "="}, {"~=", "!="}, {"~~", "pattern"}, {"in", "enum"}};
  for (const auto& [lua, ui] : kSpellings) {
    Match a = Compiled(R"(["reqPath",")" + std::string(lua) + R"(","/a, /b"])");
    Match b = Compiled(R"(["reqPath",")" + std::string(ui) + R"(","/a, /b"])");
    for (std::string_view path : {"/a, /b", "/a", "/b", "/c", "", "x/a, /by"}) {
      EXPECT_EQ(Matches(a, {{path}}), Matches(b, {{path}})) << lua << " " << path;
    }
  }
  Match eq = Compiled(R"(["method","==","GET"])");
  EXPECT_TRUE(Matches(eq, {{"/", "GET"}}));
  EXPECT_FALSE(Matches(eq, {{"/", "get"}}));
  EXPECT_FALSE(Matches(eq, {{"/", ""}}));
  Match ne = Compiled(R"(["method","~=","GET"])");
  EXPECT_FALSE(Matches(ne, {{"/", "GET"}}));
  EXPECT_TRUE(Matches(ne, {{"/", "POST"}}));
  EXPECT_TRUE(Matches(ne, {{"/", ""}}));  // absent is the empty string
  Match absent = Compiled(R"(["tier","==",""])");
  EXPECT_TRUE(Matches(absent, {{"/", "GET", "", ""}}));
}

TEST(BreakerRules, NumbersCompareAsDecimalsAndNonNumbersNeverMatch) {
  Match gt = Compiled(R"(["size",">",100])");
  EXPECT_TRUE(Matches(gt, {{"", "", "101"}}));
  EXPECT_TRUE(Matches(gt, {{"", "", "100.5"}}));
  EXPECT_FALSE(Matches(gt, {{"", "", "100"}}));
  EXPECT_FALSE(Matches(gt, {{"", "", "-200"}}));
  for (std::string_view bad : {"", "abc", "1e9", " 500", "500 ", "+500", "0x500", "inf", "nan"}) {
    EXPECT_FALSE(Matches(gt, {{"", "", bad}})) << bad;
  }
  Match lt = Compiled(R"(["size","<","-1.5"])");  // the value as a string
  EXPECT_TRUE(Matches(lt, {{"", "", "-2"}}));
  EXPECT_FALSE(Matches(lt, {{"", "", "-1.5"}}));
  EXPECT_FALSE(Matches(lt, {{"", "", "x"}}));
  Match lt_real = Compiled(R"(["size","<",2.5])");
  EXPECT_TRUE(Matches(lt_real, {{"", "", "2.49"}}));
  EXPECT_FALSE(Matches(lt_real, {{"", "", "2.5"}}));
}

TEST(BreakerRules, NumbersStandForTheirTextInTextOperators) {
  Match eq = Compiled(R"(["size","==",200])");
  EXPECT_TRUE(Matches(eq, {{"", "", "200"}}));
  EXPECT_FALSE(Matches(eq, {{"", "", "200.0"}}));
  Match real = Compiled(R"(["size","=",1.5])");
  EXPECT_TRUE(Matches(real, {{"", "", "1.5"}}));
  Match negative = Compiled(R"(["size","!=",-3])");
  EXPECT_FALSE(Matches(negative, {{"", "", "-3"}}));
  Match in = Compiled(R"(["size","in",404])");
  EXPECT_TRUE(Matches(in, {{"", "", "404"}}));
  EXPECT_FALSE(Matches(in, {{"", "", "40"}}));
}

TEST(BreakerRules, InListItemsAreTrimmedOfSpaces) {
  Match in = Compiled(R"(["method","in","  GET ,POST,   PUT  "])");
  for (std::string_view m : {"GET", "POST", "PUT"}) {
    EXPECT_TRUE(Matches(in, {{"", m}})) << m;
  }
  for (std::string_view m : {"", " GET", "GE", "GET,POST", "DELETE", "put"}) {
    EXPECT_FALSE(Matches(in, {{"", m}})) << m;
  }
  Match single = Compiled(R"(["method","enum","GET"])");
  EXPECT_TRUE(Matches(single, {{"", "GET"}}));
  EXPECT_FALSE(Matches(single, {{"", "POST"}}));
}

TEST(BreakerRules, RegexSearchesAnywhereUnlessAnchored) {
  Match anchored = Compiled(R"(["reqPath","~~","^/v[12]/orders$"])");
  EXPECT_TRUE(Matches(anchored, {{"/v1/orders"}}));
  EXPECT_TRUE(Matches(anchored, {{"/v2/orders"}}));
  EXPECT_FALSE(Matches(anchored, {{"/v3/orders"}}));
  EXPECT_FALSE(Matches(anchored, {{"/x/v1/orders"}}));
  Match loose = Compiled(R"(["reqPath","pattern","ord(er)?s"])");
  EXPECT_TRUE(Matches(loose, {{"/api/orders/7"}}));
  EXPECT_TRUE(Matches(loose, {{"ords"}}));
  EXPECT_FALSE(Matches(loose, {{"/api/items"}}));
  EXPECT_FALSE(Matches(loose, {{""}}));
  Match digits = Compiled(R"(["size","~~",5])");  // a number is its text
  EXPECT_TRUE(Matches(digits, {{"", "", "1500"}}));
  EXPECT_FALSE(Matches(digits, {{"", "", "100"}}));
}

TEST(BreakerRules, AndOrNestedThreeDeep) {
  // (path under /api AND (method GET OR (tier gold AND size > 10))) OR ip == 10.0.0.1
  Match m = Compiled(R"(["Or",
      ["AND", ["reqPath","~~","^/api/"],
              ["or", ["method","==","GET"],
                     ["aNd", ["tier","==","gold"], ["size",">",10]]]],
      ["ip","==","10.0.0.1"]])");
  EXPECT_TRUE(Matches(m, {{"/api/x", "GET", "", "", ""}}));
  EXPECT_FALSE(Matches(m, {{"/api/x", "POST", "", "", ""}}));
  EXPECT_TRUE(Matches(m, {{"/api/x", "POST", "11", "gold", ""}}));
  EXPECT_FALSE(Matches(m, {{"/api/x", "POST", "10", "gold", ""}}));
  EXPECT_FALSE(Matches(m, {{"/api/x", "POST", "11", "silver", ""}}));
  EXPECT_FALSE(Matches(m, {{"/web", "GET", "11", "gold", ""}}));
  EXPECT_TRUE(Matches(m, {{"/web", "POST", "", "", "10.0.0.1"}}));
  EXPECT_EQ(m.used_params(), 0b11111u);
}

TEST(BreakerRules, DepthLimit) {
  std::string json = R"(["method","==","GET"])";
  for (uint32_t i = 0; i < Match::kMaxDepth; ++i) {
    json = "[\"AND\"," + json + "]";
  }
  Match deepest = Compiled(json);
  EXPECT_TRUE(Matches(deepest, {{"", "GET"}}));
  EXPECT_FALSE(Matches(deepest, {{"", "PUT"}}));
  std::string path(Match::kMaxDepth * 3, ' ');
  for (uint32_t i = 0; i < Match::kMaxDepth; ++i) {
    path.replace(i * 3, 3, "[1]");
  }
  EXPECT_EQ(CompileError("[\"OR\"," + json + "]"), "element " + path + ": nested deeper than 8");
}

TEST(BreakerRules, UsedParamsIsOneBitPerReferencedParameter) {
  EXPECT_EQ(Compiled(R"(["tier","==","a"])").used_params(), 0b01000u);
  EXPECT_EQ(Compiled(R"(["OR",["size",">",1],["size","<",0],["reqPath","==","/"]])").used_params(),
            0b00101u);
  std::vector<Param> many;
  for (int i = 0; i < 65; ++i) {
    many.push_back(P("p" + std::to_string(i), "query", "q" + std::to_string(i)));
  }
  Match last = Compiled(R"(["AND",["p0","==","x"],["p63","==","y"]])", many);
  EXPECT_EQ(last.used_params(), (uint64_t{1} << 63) | 1u);
  std::vector<std::string_view> values(64);
  values[0] = "x";
  values[63] = "y";
  EXPECT_TRUE(last.matches(values.data()));
  values[63] = "z";
  EXPECT_FALSE(last.matches(values.data()));
  EXPECT_EQ(CompileError(R"(["OR",["p0","==","x"],["p64","==","y"]])", many),
            "element [2][0]: parameter \"p64\" is number 65; rules can refer to the first 64");
}

TEST(BreakerRules, ErrorsNameTheElement) {
  EXPECT_EQ(CompileError(R"(["OR",["AND",["nope","==","x"]]])"),
            "element [1][1][0]: unknown parameter \"nope\" (reqPath, method, size, tier, ip)");
  EXPECT_EQ(CompileError(R"(["reqPath","=~","/a"])"), "element [1]: unknown operator \"=~\"");
  EXPECT_EQ(CompileError(R"(["reqPath","IN","/a"])"), "element [1]: unknown operator \"IN\"");
  EXPECT_EQ(CompileError(R"(["AND",["reqPath","=="]])"),
            "element [1]: must be [parameter, operator, value]");
  EXPECT_EQ(CompileError(R"(["reqPath","==","/a","/b"])"), "must be [parameter, operator, value]");
  EXPECT_EQ(CompileError(R"(["reqPath",1,"/a"])"), "must be [parameter, operator, value]");
  EXPECT_EQ(CompileError(R"(["reqPath","==",true])"), "element [2]: must be a string or a number");
  EXPECT_EQ(CompileError(R"(["reqPath","in",null])"), "element [2]: must be a string or a number");
  EXPECT_EQ(CompileError(R"(["size",">","big"])"), "element [2]: must be a decimal number");
  EXPECT_EQ(CompileError(R"(["size","<",[1]])"), "element [2]: must be a decimal number");
  EXPECT_EQ(CompileError(R"(["method","in","GET,,POST"])"),
            "element [2]: empty item in the list \"GET,,POST\"");
  EXPECT_EQ(CompileError(R"(["method","enum","GET, "])"),
            "element [2]: empty item in the list \"GET, \"");
  const std::string bad_regex = CompileError(R"(["OR",["reqPath","~~","(/a"]])");
  EXPECT_EQ(bad_regex.rfind("element [1][2]: invalid regular expression \"(/a\": ", 0), 0u)
      << bad_regex;
  EXPECT_EQ(CompileError(R"(["or"])"), "needs at least one operand after AND/OR");
  EXPECT_EQ(CompileError(R"(["AND",[]])"), "element [1]: must be a non-empty array");
  EXPECT_EQ(CompileError(R"(["AND","reqPath"])"), "element [1]: must be a non-empty array");
  EXPECT_EQ(CompileError(R"([1,"==","x"])"),
            "element [0]: must be a string (AND, OR or a parameter)");
  EXPECT_EQ(CompileError(R"({"a":1})"), "must be a non-empty array");
  EXPECT_EQ(CompileError(R"(["reqPath","==")"), "not valid JSON");
  EXPECT_EQ(CompileError(""), "not valid JSON");
  EXPECT_EQ(CompileError(R"("[\"reqPath\",")"), "the string does not hold a JSON array");
  EXPECT_EQ(CompileError(R"(["reqPath","==","x"])", {}),
            "element [0]: unknown parameter \"reqPath\" ()");
}

TEST(BreakerRules, MakeParam) {
  Param path = P("reqPath", "path", "path");
  EXPECT_EQ(path.name, "reqPath");
  EXPECT_EQ(path.source, ParamSource::kPath);
  EXPECT_EQ(P("m", "method", "").source, ParamSource::kMethod);
  Param header = P("size", "header", "X-Body-Size");
  EXPECT_EQ(header.source, ParamSource::kHeader);
  EXPECT_EQ(header.key, "x-body-size");
  Param query = P("tier", "query", "Tier");
  EXPECT_EQ(query.source, ParamSource::kQuery);
  EXPECT_EQ(query.key, "Tier");  // query names keep their case
  const std::pair<std::string_view, SystemValue> kSystem[] = {
      {"source_ip", SystemValue::kSourceIp},
      {"stage", SystemValue::kStage},
      {"api_name", SystemValue::kApiName},
      {"request_id", SystemValue::kRequestId}};
  for (const auto& [value, system] : kSystem) {
    Param p = P("s", "system", value);
    EXPECT_EQ(p.source, ParamSource::kSystem);
    EXPECT_EQ(p.system, system) << value;
  }
}

TEST(BreakerRules, MakeParamErrors) {
  std::string error;
  EXPECT_FALSE(make_param("x", "cookie", "sid", &error));
  EXPECT_EQ(error, "unknown type \"cookie\" (path, method, header, query, system)");
  EXPECT_FALSE(make_param("x", "Path", "path", &error));
  EXPECT_EQ(error, "unknown type \"Path\" (path, method, header, query, system)");
  EXPECT_FALSE(make_param("x", "system", "hostname", &error));
  EXPECT_EQ(error,
            "unknown system parameter \"hostname\" (source_ip, stage, api_name, request_id)");
  EXPECT_FALSE(make_param("x", "header", "", &error));
  EXPECT_EQ(error, "a header parameter needs its name in value");
  EXPECT_FALSE(make_param("x", "query", "", &error));
  EXPECT_EQ(error, "a query parameter needs its name in value");
  EXPECT_FALSE(make_param("", "path", "path", &error));
  EXPECT_EQ(error, "a parameter needs a name");
}

}  // namespace
}  // namespace ringway::breaker
