// The README's ten-line example, built against the installed docgate client.
#include <iostream>

#include "docgate/client.h"

int main(int argc, char** argv) {
  docgate::ClientOptions options;
  options.timeout = std::chrono::seconds(2);
  docgate::Client client(argc > 1 ? argv[1] : "127.0.0.1:50051", options);
  docgate::v1::Document doc;
  doc.set_name("hello.txt");
  auto created = client.CreateDocument(doc);
  if (!created.ok()) {
    std::cerr << created.status() << "\n";
    return static_cast<int>(created.status().code());
  }
  std::cout << created->document.id() << "\n";
}
