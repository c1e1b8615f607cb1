"""Generated gRPC stubs (docgate_pb2, docgate_pb2_grpc, health_pb2, health_pb2_grpc).

Made by setup.py at build time from the repository's proto/; never committed.
"""
