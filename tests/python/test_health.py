"""grpc.health.v1 says whether docgate can serve: it follows PostgreSQL down and back up."""
from docgate_harness import wait_for

SERVICES = ("", "docgate.v1.DocumentService")


def test_health_turns_not_serving_when_postgres_stops_and_serving_when_it_returns(own_cluster, start_docgate):
    urls = own_cluster.start()
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"])
    for service in SERVICES:
        wait_for(lambda: d.health(service) == "SERVING", 20, what=f"'{service}' SERVING at start")

    own_cluster.stop()  # an immediate shutdown: backends are killed, the port closes
    for service in SERVICES:
        wait_for(lambda: d.health(service) == "NOT_SERVING", 10, what=f"'{service}' NOT_SERVING once PostgreSQL stops")
    assert d.proc.poll() is None, "docgate stays up while the database is down"
    assert d.health("liveness") == "SERVING", "liveness must not depend on PostgreSQL"

    own_cluster.start()
    for service in SERVICES:
        wait_for(lambda: d.health(service) == "SERVING", 20, what=f"'{service}' SERVING once PostgreSQL is back")


def test_health_watchers_see_not_serving_at_shutdown(database_url, start_docgate):
    """A load balancer watching health learns of a shutdown before the port closes."""
    import signal
    from docgate._pb import health_pb2, health_pb2_grpc
    d = start_docgate(database_url, "--shutdown-grace=1s")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    watches = [health_pb2_grpc.HealthStub(d.channel).Watch(health_pb2.HealthCheckRequest(service=service),
                                                           timeout=20) for service in SERVICES]
    for updates in watches:
        assert next(updates).status == health_pb2.HealthCheckResponse.SERVING
    d.proc.send_signal(signal.SIGTERM)
    for updates in watches:
        assert next(updates).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert d.proc.wait(timeout=15) == 0
