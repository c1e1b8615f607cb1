// docgatectl: docgate's command line. Exit status: the gRPC status code of the call
// (0 OK, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND, 14 UNAVAILABLE, ...); 64 for a usage error.
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "docgate/client.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace {

constexpr int kUsageError = 64;

constexpr char kUsage[] = R"(usage: docgatectl [--addr HOST:PORT] [--timeout DURATION] [--json] COMMAND ...

  create --name NAME [--id UUID] [--body-file PATH|-] [--source-uri URI]
         [--content-type TYPE] [--attr KEY=VALUE]... [TASK]
  get ID [--body] [--token TOKEN] [--consistency C]
  wait ID [--body] [--token TOKEN] [--consistency C]
                                          until the document is visible (or the timeout)
                                          C: strong, at-least-as-fresh (needs --token),
                                          minimize-latency (replicas; may be stale)
  lease ID --version N --duration D [--holder H]
                                          take the document (PENDING at version N ->
                                          PROCESSING) under a lease of D (1s to 24h)
  renew ID --version N --duration D       extend the lease taken at version N to D
                                          from now; ABORTED (10) when it was lost
  update-status ID STATUS [--detail TEXT] [--expected-version N] [TASK]
                                          TASK: --enqueue NAME [--queue Q] [--args JSON]
                                          [--kwargs JSON] [--countdown SECONDS]: a Celery
                                          task docgate delivers after the write commits
                                          STATUS: PENDING PROCESSING COMPLETED FAILED
  list [--status STATUS] [--page-size N] [--limit N] [--brief]
                                          --brief: a line each: id, status, version,
                                          attempts, last lease holder, detail
  retry ID --reset-attempts|--keep-attempts [--expected-version N] [--detail TEXT]
                                          a FAILED document back to PENDING, its
                                          remembered tasks enqueued again
  tasks ID                                the document's tasks waiting in the outbox,
                                          and those it remembers for a redelivery
  health [SERVICE]                        SERVING / NOT_SERVING

  --addr      docgate's address (default $DOCGATE_ADDR, else 127.0.0.1:50051);
              dns:///name:port balances over every address of the name
  --timeout   the call's deadline, retries included: 500ms, 10s, 2m (default 10s;
              for wait, 30s)
  --json      one JSON object per line instead of text
  --tls       speak TLS, trusting the system's CAs (implied by the three below)
  --tls-ca PATH     the PEM CA that signed docgate's certificate
  --tls-cert PATH   this client's PEM certificate chain, for mutual TLS
  --tls-key PATH    its PEM private key
  --auth-token-file PATH
              a file holding the bearer token (default: $DOCGATE_AUTH_TOKEN);
              never give a token on the command line, where ps shows it
  --caller NAME
              who this is for fair admission and per-caller metrics, sent as
              x-docgate-caller (default: $DOCGATE_CALLER; with tokens on, docgate
              uses the token's name instead)

Exit status: the call's gRPC status code (0 OK, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND,
14 UNAVAILABLE, ...), 64 for a usage error.
)";

struct UsageError {
  std::string message;
};

// "500ms", "10s", "2m", or plain seconds, for the flag `flag`.
std::chrono::milliseconds ParseDuration(const std::string& flag, const std::string& text) {
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    throw UsageError{"--" + flag + ": not a duration: " + text};
  }
  const std::string unit = text.substr(end);
  double ms = 0;
  if (unit == "ms") {
    ms = value;
  } else if (unit == "s" || unit.empty()) {
    ms = value * 1000;
  } else if (unit == "m") {
    ms = value * 60000;
  } else {
    throw UsageError{"--" + flag + ": unknown unit in " + text + " (use ms, s or m)"};
  }
  if (ms <= 0) throw UsageError{"--" + flag + " must be positive"};
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

docgate::v1::DocumentStatus ParseStatus(const std::string& text) {
  docgate::v1::DocumentStatus status;
  if (!docgate::v1::DocumentStatus_Parse(text, &status) || status == docgate::v1::DOCUMENT_STATUS_UNSPECIFIED) {
    throw UsageError{"unknown status " + text + " (PENDING, PROCESSING, COMPLETED or FAILED)"};
  }
  return status;
}

docgate::v1::Consistency ParseConsistency(const std::string& text) {
  if (text == "strong") return docgate::v1::STRONG;
  if (text == "at-least-as-fresh") return docgate::v1::AT_LEAST_AS_FRESH;
  if (text == "minimize-latency") return docgate::v1::MINIMIZE_LATENCY;
  throw UsageError{"unknown consistency " + text + " (strong, at-least-as-fresh or minimize-latency)"};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError{"cannot read " + path};
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string ReadBody(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  return ReadFile(path);
}

// The command line: global flags anywhere, then the command's positionals and flags.
struct Args {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;  // --name value, or "" for switches
  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const {
    auto it = flags.find(name);
    return it == flags.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

// The task of --enqueue and its options; none without --enqueue. docgate checks the
// JSON and the names (INVALID_ARGUMENT naming the field).
std::vector<docgate::v1::CeleryTask> TasksOf(const Args& args) {
  if (!args.Has("enqueue")) {
    for (const char* option : {"queue", "args", "kwargs", "countdown"}) {
      if (args.Has(option)) throw UsageError{std::string("--") + option + " goes with --enqueue"};
    }
    return {};
  }
  docgate::v1::CeleryTask task;
  task.set_task(*args.Get("enqueue"));
  task.set_queue(args.Get("queue").value_or(""));
  task.set_args_json(args.Get("args").value_or(""));
  task.set_kwargs_json(args.Get("kwargs").value_or(""));
  task.set_countdown_seconds(std::stoi(args.Get("countdown").value_or("0")));
  return {task};
}

Args Parse(int argc, char** argv) {
  static const std::map<std::string, bool> kTakesValue = {{"addr", true},
                                                          {"timeout", true},
                                                          {"json", false},
                                                          {"name", true},
                                                          {"id", true},
                                                          {"body-file", true},
                                                          {"source-uri", true},
                                                          {"content-type", true},
                                                          {"attr", true},
                                                          {"body", false},
                                                          {"token", true},
                                                          {"consistency", true},
                                                          {"detail", true},
                                                          {"expected-version", true},
                                                          {"status", true},
                                                          {"page-size", true},
                                                          {"limit", true},
                                                          {"help", false},
                                                          {"tls", false},
                                                          {"tls-ca", true},
                                                          {"tls-cert", true},
                                                          {"tls-key", true},
                                                          {"auth-token-file", true},
                                                          {"caller", true},
                                                          {"enqueue", true},
                                                          {"queue", true},
                                                          {"args", true},
                                                          {"kwargs", true},
                                                          {"countdown", true},
                                                          {"version", true},
                                                          {"duration", true},
                                                          {"holder", true},
                                                          {"brief", false},
                                                          {"reset-attempts", false},
                                                          {"keep-attempts", false}};
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "-") {
      args.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto known = kTakesValue.find(name);
    if (known == kTakesValue.end()) throw UsageError{"unknown flag --" + name};
    if (known->second && eq == std::string::npos) {
      if (i + 1 >= argc) throw UsageError{"--" + name + " needs a value"};
      value = argv[++i];
    }
    args.flags.emplace(name, value);
  }
  return args;
}

class Printer {
 public:
  explicit Printer(bool json) : json_(json) {}

  void Print(const google::protobuf::Message& message) const {
    std::string out;
    if (json_) {
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(message, &out, options);
      std::cout << out << "\n";
    } else {
      google::protobuf::TextFormat::PrintToString(message, &out);
      std::cout << out << (out.empty() || out.back() == '\n' ? "" : "\n");
    }
  }

 private:
  bool json_;
};

int Fail(const absl::Status& status) {
  std::cerr << "docgatectl: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
  return static_cast<int>(status.code());
}

std::string Positional(const Args& args, size_t index, const char* what) {
  if (args.positional.size() <= index) throw UsageError{std::string("missing ") + what};
  return args.positional[index];
}

// TLS and the bearer token, from files (and the token from the environment); the caller's name.
void SetCredentials(const Args& args, docgate::ClientOptions& options) {
  options.tls = args.Has("tls") || args.Has("tls-ca") || args.Has("tls-cert") || args.Has("tls-key");
  if (auto ca = args.Get("tls-ca")) options.tls_root_certs = ReadFile(*ca);
  if (args.Has("tls-cert") != args.Has("tls-key")) throw UsageError{"--tls-cert and --tls-key go together"};
  if (auto cert = args.Get("tls-cert")) options.tls_cert_chain = ReadFile(*cert);
  if (auto key = args.Get("tls-key")) options.tls_private_key = ReadFile(*key);
  if (auto path = args.Get("auth-token-file")) {
    options.bearer_token = ReadFile(*path);
  } else if (const char* token = std::getenv("DOCGATE_AUTH_TOKEN")) {
    options.bearer_token = token;
  }
  if (auto caller = args.Get("caller")) {
    options.caller = *caller;
  } else if (const char* caller_env = std::getenv("DOCGATE_CALLER")) {
    options.caller = caller_env;
  }
  // A token file written by `echo` ends in a newline that is not part of the token.
  while (!options.bearer_token.empty() && std::isspace(static_cast<unsigned char>(options.bearer_token.back()))) {
    options.bearer_token.pop_back();
  }
}

// `lease` and `renew`: the document under its lease (lease_holder, lease_expire_time).
int RunLease(const std::string& command, const Args& args, docgate::Client& client, const Printer& printer) {
  const std::string id = Positional(args, 1, "document id");
  const auto version = args.Get("version");
  const auto duration = args.Get("duration");
  if (!version || !duration) throw UsageError{command + " needs --version and --duration"};
  const auto lease = ParseDuration("duration", *duration);
  auto doc = command == "lease" ? client.TakeLease(id, std::stoll(*version), lease, args.Get("holder").value_or(""))
                                : client.RenewLease(id, std::stoll(*version), lease);
  if (!doc.ok()) return Fail(doc.status());
  printer.Print(*doc);
  return 0;
}

// `list --brief`: one line a document, for an operator's eyes and for grep.
void PrintBrief(const docgate::v1::Document& doc) {
  std::cout << doc.id() << " " << docgate::v1::DocumentStatus_Name(doc.status()) << " version=" << doc.version()
            << " attempts=" << doc.attempts()
            << " last_holder=" << (doc.last_lease_holder().empty() ? "-" : doc.last_lease_holder()) << " detail=\""
            << doc.status_detail() << "\"\n";
}

// `retry`: the operator says what becomes of the attempts; there is no default.
int RunRetry(const Args& args, docgate::Client& client, const Printer& printer) {
  const std::string id = Positional(args, 1, "document id");
  if (args.Has("reset-attempts") == args.Has("keep-attempts")) {
    throw UsageError{"retry needs one of --reset-attempts and --keep-attempts"};
  }
  int64_t expected = 0;
  if (auto v = args.Get("expected-version")) expected = std::stoll(*v);
  auto result = client.RetryDocument(id, args.Has("reset-attempts"), expected, args.Get("detail").value_or(""));
  if (!result.ok()) return Fail(result.status());
  docgate::v1::RetryDocumentResponse shown;
  *shown.mutable_document() = result->document;
  shown.set_consistency_token(result->consistency_token);
  for (const auto& task_id : result->task_ids) shown.add_task_ids(task_id);
  printer.Print(shown);
  return 0;
}

int Run(const Args& args) {
  const std::string command = Positional(args, 0, "command");
  const char* env_addr = std::getenv("DOCGATE_ADDR");
  const std::string addr = args.Get("addr").value_or(env_addr != nullptr ? env_addr : "127.0.0.1:50051");
  docgate::ClientOptions options;
  if (auto t = args.Get("timeout")) options.timeout = options.wait_timeout = ParseDuration("timeout", *t);
  SetCredentials(args, options);
  const Printer printer(args.Has("json"));

  if (command == "health") {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(args.positional.size() > 1 ? args.positional[1] : "");
    grpc::health::v1::HealthCheckResponse reply;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options.timeout);
    auto stub = grpc::health::v1::Health::NewStub(docgate::MakeChannel(addr, options));
    const grpc::Status status = stub->Check(&context, request, &reply);
    if (!status.ok())
      return Fail(absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()));
    printer.Print(reply);
    return 0;
  }

  docgate::Client client(addr, options);
  if (command == "create") {
    docgate::v1::Document doc;
    doc.set_name(args.Get("name").value_or(""));
    doc.set_id(args.Get("id").value_or(""));
    doc.set_source_uri(args.Get("source-uri").value_or(""));
    doc.set_content_type(args.Get("content-type").value_or(""));
    if (auto path = args.Get("body-file")) doc.set_body(ReadBody(*path));
    for (auto [it, end] = args.flags.equal_range("attr"); it != end; ++it) {
      const auto eq = it->second.find('=');
      if (eq == std::string::npos) throw UsageError{"--attr wants KEY=VALUE, got " + it->second};
      (*doc.mutable_attributes())[it->second.substr(0, eq)] = it->second.substr(eq + 1);
    }
    auto result = client.CreateDocument(std::move(doc), TasksOf(args));
    if (!result.ok()) return Fail(result.status());
    docgate::v1::CreateDocumentResponse shown;
    *shown.mutable_document() = result->document;
    shown.set_created(result->created);
    shown.set_consistency_token(result->consistency_token);
    for (const auto& id : result->task_ids) shown.add_task_ids(id);
    printer.Print(shown);
    return 0;
  }
  if (command == "get" || command == "wait") {
    const std::string id = Positional(args, 1, "document id");
    docgate::ReadOptions read{args.Has("body"), args.Get("token").value_or(""), docgate::v1::CONSISTENCY_UNSPECIFIED};
    if (auto c = args.Get("consistency")) read.consistency = ParseConsistency(*c);
    auto doc = command == "get" ? client.GetDocument(id, read) : client.WaitVisible(id, read);
    if (!doc.ok()) return Fail(doc.status());
    printer.Print(doc->document);
    return 0;
  }
  if (command == "update-status") {
    const std::string id = Positional(args, 1, "document id");
    const auto status = ParseStatus(Positional(args, 2, "status"));
    int64_t expected = 0;
    if (auto v = args.Get("expected-version")) expected = std::stoll(*v);
    auto result = client.UpdateStatus(id, status, args.Get("detail").value_or(""), expected, TasksOf(args));
    if (!result.ok()) return Fail(result.status());
    docgate::v1::UpdateDocumentStatusResponse shown;
    *shown.mutable_document() = result->document;
    shown.set_consistency_token(result->consistency_token);
    for (const auto& task_id : result->task_ids) shown.add_task_ids(task_id);
    printer.Print(shown);
    return 0;
  }
  if (command == "lease" || command == "renew") return RunLease(command, args, client, printer);
  if (command == "retry") return RunRetry(args, client, printer);
  if (command == "tasks") {
    auto tasks = client.ListDocumentTasks(Positional(args, 1, "document id"));
    if (!tasks.ok()) return Fail(tasks.status());
    printer.Print(*tasks);
    return 0;
  }
  if (command == "list") {
    const auto status =
        args.Has("status") ? ParseStatus(*args.Get("status")) : docgate::v1::DOCUMENT_STATUS_UNSPECIFIED;
    const int page_size = std::stoi(args.Get("page-size").value_or("100"));
    int64_t left = std::stoll(args.Get("limit").value_or("-1"));
    const absl::Status status_of_list = client.ListAll(
        status,
        [&](const docgate::v1::Document& doc) {
          if (left == 0) return false;
          if (args.Has("brief")) {
            PrintBrief(doc);
          } else {
            printer.Print(doc);
          }
          if (left > 0) --left;
          return left != 0;
        },
        page_size);
    return status_of_list.ok() ? 0 : Fail(status_of_list);
  }
  throw UsageError{"unknown command " + command};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = Parse(argc, argv);
    if (args.Has("help") || args.positional.empty()) {
      std::cout << kUsage;
      return args.Has("help") ? 0 : kUsageError;
    }
    return Run(args);
  } catch (const UsageError& e) {
    std::cerr << "docgatectl: " << e.message << "\n\n" << kUsage;
    return kUsageError;
  } catch (const std::invalid_argument&) {
    std::cerr << "docgatectl: a number was expected\n";
    return kUsageError;
  } catch (const std::out_of_range&) {
    std::cerr << "docgatectl: a number is out of range\n";
    return kUsageError;
  }
}
