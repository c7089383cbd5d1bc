"""Board server (vitaccel.distributed.serving / backend / protocol), in-process servers on 127.0.0.1.

Every expected value is computed independently here from the arrays in the model file (float64 numpy), never
taken from the server's own code path.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

tc = pytest.importorskip("tritonclient.grpc")
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from vitaccel.distributed.backend import (  # noqa: E402
    FEATURES,
    LOGITS,
    RandomProjectionModel,
    ServedModel,
    TensorSpec,
    load_served_model,
    register_loader,
    save_random_projection_model,
)
from vitaccel.distributed.cluster import Cluster, parse_cluster_config  # noqa: E402
from vitaccel.distributed.protocol import bearer_metadata, pb, pb_grpc  # noqa: E402
from vitaccel.distributed.serving import ServerOptions, start_server  # noqa: E402
from vitaccel.errors import CheckpointError, ConfigError, InputError  # noqa: E402

pytestmark = pytest.mark.timeout(120)

SHAPE = (3, 8, 8)


def reference(path: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """The random-projection model recomputed in float64 straight from the file's arrays."""
    z = np.load(path)
    x = (images.reshape(images.shape[0], -1).astype(np.float64) - 128.0) / 128.0
    feats = np.maximum(x @ z["weight"].astype(np.float64).T + z["bias"], 0.0)
    out = {FEATURES: feats}
    if "head_weight" in z.files:
        out[LOGITS] = feats @ z["head_weight"].astype(np.float64).T + z["head_bias"]
    return out


def images(n: int, seed: int = 0, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_projection_model(tmp_path_factory.mktemp("m") / "m.npz", "sub0", SHAPE, 16, classes=5, seed=3)


@pytest.fixture(scope="module")
def server(model_file: Path):
    srv = start_server(load_served_model(model_file), ServerOptions(port=0, max_request_bytes=64 * 1024,
                                                                   max_tensor_bytes=8 * 1024, max_batch=32))
    yield srv
    srv.stop(0.5)


@pytest.fixture(scope="module")
def client(server):
    c = tc.InferenceServerClient(f"127.0.0.1:{server.port}")
    yield c
    c.close()


def triton_infer(client, x: np.ndarray, model: str = "sub0", datatype: str = "UINT8", name: str = "images", **kw):
    inp = tc.InferInput(name, list(x.shape), datatype)
    inp.set_data_from_numpy(x)
    return client.infer(model, [inp], **kw)


def expect_rpc_error(client, code: str, fn, *args, match: str = "", **kw) -> str:
    with pytest.raises(tc.InferenceServerException) as info:
        fn(client, *args, **kw)
    assert info.value.status() == f"StatusCode.{code}", info.value.message()
    assert match in info.value.message()
    return info.value.message()


# ----------------------------------------------------------------------------------------------- model files
def test_random_projection_matches_independent_numpy(model_file: Path) -> None:
    model = load_served_model(model_file)
    x = images(5, seed=1)
    got = model.infer(x)
    ref = reference(model_file, x)
    assert got[FEATURES].dtype == np.float32 and got[FEATURES].shape == (5, 16)
    np.testing.assert_allclose(got[FEATURES], ref[FEATURES], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[LOGITS], ref[LOGITS], rtol=1e-5, atol=1e-5)
    assert (got[FEATURES] >= 0).all() and (got[FEATURES] > 0).any()
    # deterministic: same file, same seed -> same weights; another seed -> other features
    again = save_random_projection_model(model_file.parent / "again.npz", "x", SHAPE, 16, classes=5, seed=3)
    np.testing.assert_array_equal(np.load(again)["weight"], np.load(model_file)["weight"])
    with pytest.raises(InputError, match="shape"):
        model.infer(images(1, shape=(3, 8, 9)))


def test_model_file_errors(tmp_path: Path, model_file: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_served_model(tmp_path / "none.npz")
    (tmp_path / "x.weird").write_bytes(b"abc")
    with pytest.raises(CheckpointError, match=r"x\.weird.*no served-model loader for file type '\.weird'"):
        load_served_model(tmp_path / "x.weird")
    np.savez(tmp_path / "nofmt.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="vitaccel_format"):
        load_served_model(tmp_path / "nofmt.npz")
    z = dict(np.load(model_file))
    z["format_version"] = np.array(99)
    np.savez(tmp_path / "v99.npz", **z)
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_served_model(tmp_path / "v99.npz")
    z = dict(np.load(model_file))
    z["bias"] = np.zeros(7, np.float32)
    np.savez(tmp_path / "badbias.npz", **z)
    with pytest.raises(CheckpointError, match="bias"):
        load_served_model(tmp_path / "badbias.npz")
    assert load_served_model(model_file, name="renamed").name == "renamed"


class _Doubler(ServedModel):
    """A tiny custom served model, as a splitter would add one: features = 2 * mean over pixels per channel."""

    platform = "test_doubler"

    def __init__(self, name: str, fail: bool = False, delay_s: float = 0.0) -> None:
        self.name = name
        self.input_spec = TensorSpec("x", "FP32", (-1, 4))
        self.output_specs = (TensorSpec(FEATURES, "FP32", (-1, 4)),)
        self.fail = fail
        self.delay_s = delay_s
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self._lock = threading.Lock()

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay_s)
            if self.fail:
                raise RuntimeError("device fell over")
            return {FEATURES: (2.0 * batch).astype(np.float32)}
        finally:
            with self._lock:
                self.active -= 1


def test_custom_loader_registry_and_interface_validation(tmp_path: Path) -> None:
    register_loader(".toy", lambda path, name: _Doubler(name or path.stem))
    (tmp_path / "dbl.toy").write_text("toy")
    m = load_served_model(tmp_path / "dbl.toy")
    assert m.name == "dbl" and isinstance(m, _Doubler)

    class NoFeatures(_Doubler):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.output_specs = (TensorSpec("other", "FP32", (-1, 4)),)

    register_loader(".nofeat", lambda path, name: NoFeatures("nf"))
    (tmp_path / "a.nofeat").write_text("x")
    with pytest.raises(CheckpointError, match="lack the required 'features'"):
        load_served_model(tmp_path / "a.nofeat")
    with pytest.raises(ConfigError, match="batch dimension"):
        TensorSpec("x", "UINT8", (3, 8, 8))
    with pytest.raises(ConfigError, match="datatype"):
        TensorSpec("x", "FLOAT", (-1, 3))


# ----------------------------------------------------------------------------------------------- protocol
def test_tritonclient_metadata_and_infer(client, model_file: Path) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("sub0")
    assert not client.is_model_ready("other")
    md = client.get_model_metadata("sub0")
    assert md.name == "sub0" and list(md.inputs[0].shape) == [-1, *SHAPE] and md.inputs[0].datatype == "UINT8"
    assert {o.name: list(o.shape) for o in md.outputs} == {FEATURES: [-1, 16], LOGITS: [-1, 5]}
    assert client.get_server_metadata().name == "vitaccel"
    cfg = client.get_model_config("sub0").config
    assert cfg.max_batch_size == 32 and list(cfg.input[0].dims) == list(SHAPE)
    x = images(3, seed=7)
    res = triton_infer(client, x, request_id="req-42")
    ref = reference(model_file, x)
    np.testing.assert_allclose(res.as_numpy(FEATURES), ref[FEATURES], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.as_numpy(LOGITS), ref[LOGITS], rtol=1e-5, atol=1e-5)
    assert res.get_response().id == "req-42"
    only = triton_infer(client, x, outputs=[tc.InferRequestedOutput(LOGITS)])
    assert only.as_numpy(FEATURES) is None and only.as_numpy(LOGITS).shape == (3, 5)


def test_malformed_requests_get_protocol_errors(client, server, model_file: Path) -> None:
    x = images(2)
    expect_rpc_error(client, "INVALID_ARGUMENT", triton_infer, images(2, shape=(3, 8, 9)), match="expected [B, 3, 8, 8]")
    expect_rpc_error(client, "INVALID_ARGUMENT", triton_infer, x[0], match="shape [3, 8, 8]")
    expect_rpc_error(client, "INVALID_ARGUMENT", triton_infer, x.astype(np.float32), datatype="FP32",
                     match="datatype FP32, expected UINT8")
    expect_rpc_error(client, "INVALID_ARGUMENT", triton_infer, x, name="pixels", match="missing input 'images'")
    expect_rpc_error(client, "NOT_FOUND", triton_infer, x, model="nope", match="unknown model 'nope'")
    expect_rpc_error(client, "NOT_FOUND", triton_infer, x, model_version="7", match="no version '7'")
    expect_rpc_error(client, "INVALID_ARGUMENT", triton_infer, images(33), match="B <= 32")
    # 50 images = 9,600 B: within the 64 KiB message limit, over the 8 KiB per-tensor limit
    expect_rpc_error(client, "RESOURCE_EXHAUSTED", triton_infer, images(50), match="per-tensor limit of 8192")
    expect_rpc_error(client, "RESOURCE_EXHAUSTED", triton_infer, images(400))  # 76.8 KB > 64 KiB message limit
    expect_rpc_error(client, "INVALID_ARGUMENT", lambda c, **kw: c.infer("sub0", [], **kw), match="missing input")
    with pytest.raises(tc.InferenceServerException) as info:
        triton_infer(client, x, outputs=[tc.InferRequestedOutput("nonsense")])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT" and "nonsense" in info.value.message()

    # cases tritonclient cannot produce: raw stub
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    T = pb.ModelInferRequest.InferInputTensor

    def raw_call(**req):
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(pb.ModelInferRequest(model_name="sub0", **req), timeout=5)
        return e.value.code(), e.value.details()

    code, msg = raw_call(inputs=[T(name="images", datatype="UINT8", shape=[1, *SHAPE])], raw_input_contents=[b"\0" * 5])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "5 bytes" in msg and "needs 192" in msg
    code, msg = raw_call(inputs=[T(name="images", datatype="UINT8", shape=[1, *SHAPE]),
                                 T(name="extra", datatype="UINT8", shape=[1])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "extra" in msg
    code, msg = raw_call(inputs=[T(name="images", datatype="UINT8", shape=[-1, *SHAPE])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    bad_contents = T(name="images", datatype="UINT8", shape=[1, *SHAPE],
                     contents=pb.InferTensorContents(uint_contents=[300] * 192))
    code, msg = raw_call(inputs=[bad_contents])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outside the UINT8 range" in msg
    # typed contents (no raw bytes) are accepted and give the same answer
    ok = stub.ModelInfer(pb.ModelInferRequest(model_name="sub0", inputs=[
        T(name="images", datatype="UINT8", shape=[1, *SHAPE], contents=pb.InferTensorContents(
            uint_contents=x[0].ravel().tolist()))]), timeout=5)
    feats = np.frombuffer(ok.raw_output_contents[0], "<f4").reshape(1, 16)
    np.testing.assert_allclose(feats, reference(model_file, x[:1])[FEATURES], rtol=1e-5, atol=1e-5)
    channel.close()

    # still serving, still right
    res = triton_infer(client, x)
    np.testing.assert_allclose(res.as_numpy(FEATURES), reference(model_file, x)[FEATURES], rtol=1e-5, atol=1e-5)
    assert server.servicer.error_count >= 10


def test_health_service_and_not_serving(model_file: Path) -> None:
    srv = start_server(load_served_model(model_file), ServerOptions(port=0))
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        h = health_pb2_grpc.HealthStub(channel)
        for service in ("", "sub0"):
            assert h.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
        srv.set_serving(False)
        assert h.Check(health_pb2.HealthCheckRequest(service="sub0"), timeout=5).status == \
            health_pb2.HealthCheckResponse.NOT_SERVING
        client = tc.InferenceServerClient(f"127.0.0.1:{srv.port}")
        assert not client.is_server_ready()
        expect_rpc_error(client, "UNAVAILABLE", triton_infer, images(1), match="not ready")
        srv.set_serving(True)
        assert triton_infer(client, images(1)).as_numpy(FEATURES).shape == (1, 16)
        client.close()
        channel.close()
    finally:
        srv.stop(0.5)


def test_model_fault_is_internal_and_server_survives() -> None:
    model = _Doubler("dbl", fail=True)
    srv = start_server(model, ServerOptions(port=0))
    client = tc.InferenceServerClient(f"127.0.0.1:{srv.port}")
    try:
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        expect_rpc_error(client, "INTERNAL", triton_infer, x, model="dbl", datatype="FP32", name="x",
                         match="device fell over")
        model.fail = False
        res = triton_infer(client, x, model="dbl", datatype="FP32", name="x")
        np.testing.assert_array_equal(res.as_numpy(FEATURES), 2 * x)
    finally:
        client.close()
        srv.stop(0.5)


def test_non_thread_safe_model_is_serialised() -> None:
    model = _Doubler("dbl", delay_s=0.02)
    assert model.thread_safe is False
    srv = start_server(model, ServerOptions(port=0, workers=8))
    client = tc.InferenceServerClient(f"127.0.0.1:{srv.port}")
    try:
        x = np.ones((1, 4), np.float32)
        threads = [threading.Thread(target=triton_infer, args=(client, x),
                                    kwargs={"model": "dbl", "datatype": "FP32", "name": "x"}) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert model.max_active == 1
    finally:
        client.close()
        srv.stop(0.5)


def test_request_expired_in_queue_is_not_run() -> None:
    """One handler thread busy for 0.5 s; a call with a 0.1 s deadline queued behind it must not reach the model.

    (grpcio itself drops a call cancelled by its deadline before dispatch; the server's own check covers a deadline
    passing between dispatch and the model. This tests the property, whichever layer provides it.)"""
    model = _Doubler("dbl", delay_s=0.5)
    srv = start_server(model, ServerOptions(port=0, workers=1))
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    x = np.ones((1, 4), np.float32)
    req = pb.ModelInferRequest(model_name="dbl", inputs=[pb.ModelInferRequest.InferInputTensor(
        name="x", datatype="FP32", shape=[1, 4])], raw_input_contents=[x.tobytes()])
    try:
        slow = stub.ModelInfer.future(req, timeout=10)
        end = time.monotonic() + 10
        while model.active == 0 and time.monotonic() < end:  # the slow call now holds the only handler thread
            time.sleep(0.005)
        assert model.active == 1
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(req, timeout=0.1)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert slow.result(timeout=10).id == ""
        time.sleep(0.1)  # let the expired call leave the queue
        assert model.calls == 1
    finally:
        channel.close()
        srv.stop(0.5)


# ----------------------------------------------------------------------------------------------- token / TLS
def test_bearer_token(model_file: Path) -> None:
    srv = start_server(load_served_model(model_file), ServerOptions(port=0, token="s3cret-token"))
    client = tc.InferenceServerClient(f"127.0.0.1:{srv.port}")
    try:
        x = images(1)
        expect_rpc_error(client, "UNAUTHENTICATED", triton_infer, x, match="missing")
        expect_rpc_error(client, "UNAUTHENTICATED", triton_infer, x, headers={"authorization": "Bearer wrong"},
                         match="invalid bearer token")
        expect_rpc_error(client, "UNAUTHENTICATED", triton_infer, x, headers={"authorization": "s3cret-token"},
                         match="invalid bearer token")
        with pytest.raises(tc.InferenceServerException) as info:
            client.get_model_metadata("sub0")
        assert info.value.status() == "StatusCode.UNAUTHENTICATED"
        good = {"authorization": "Bearer s3cret-token"}
        res = triton_infer(client, x, headers=good)
        np.testing.assert_allclose(res.as_numpy(FEATURES), reference(model_file, x)[FEATURES], rtol=1e-5, atol=1e-5)
        assert client.get_model_metadata("sub0", headers=good).name == "sub0"
        # the health service stays open for probes without the token
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        channel.close()
        with pytest.raises(ConfigError, match="whitespace"):
            ServerOptions(port=0, token="has space").validate()
    finally:
        client.close()
        srv.stop(0.5)


def _certs_with_cryptography(d: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, key, cert) -> None:
        (d / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
        (d / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("vitaccel-test-ca")).issuer_name(name("vitaccel-test-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    write("ca", ca_key, ca)
    for stem, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(f"vitaccel-test-{stem}")).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        write(stem, key, cert)


def _certs_with_openssl(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=vitaccel-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for stem, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        (d / f"{stem}.ext").write_text(
            f"basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\n"
        )
        run("req", *ec, "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN=vitaccel-test-{stem}")
        run("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{stem}.pem", "-days", "1", "-extfile", f"{stem}.ext")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server cert (SAN localhost, 127.0.0.1) and a client cert, made here: cryptography if installed,
    else the openssl command; otherwise the TLS tests are skipped with the reason."""
    d = tmp_path_factory.mktemp("certs")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        if shutil.which("openssl") is None:
            reason = "TLS test skipped: neither the 'cryptography' package nor the 'openssl' command is available"
            print(reason)
            pytest.skip(reason)
        print("cryptography not installed: generating the test certificates with the openssl command")
        _certs_with_openssl(d)
    else:
        _certs_with_cryptography(d)
    return d


def test_tls_and_mutual_tls(certs: Path, model_file: Path, tmp_path: Path) -> None:
    x = images(2, seed=11)
    ref = reference(model_file, x)[FEATURES]
    # server-side TLS only
    srv = start_server(load_served_model(model_file),
                       ServerOptions(port=0, tls_cert=certs / "server.pem", tls_key=certs / "server.key"))
    try:
        client = tc.InferenceServerClient(f"127.0.0.1:{srv.port}", ssl=True, root_certificates=str(certs / "ca.pem"))
        np.testing.assert_allclose(triton_infer(client, x).as_numpy(FEATURES), ref, rtol=1e-5, atol=1e-5)
        client.close()
        plain = tc.InferenceServerClient(f"127.0.0.1:{srv.port}")  # a plaintext client cannot talk to it
        with pytest.raises(tc.InferenceServerException) as info:
            triton_infer(plain, x, client_timeout=5)
        assert info.value.status() == "StatusCode.UNAVAILABLE"
        plain.close()
    finally:
        srv.stop(0.5)
    # mutual TLS + token, through the Cluster client
    (tmp_path / "token").write_text("tok-123\n")
    srv = start_server(load_served_model(model_file), ServerOptions(
        port=0, tls_cert=certs / "server.pem", tls_key=certs / "server.key", tls_ca=certs / "ca.pem",
        token="tok-123"))
    try:
        board = {"name": "b0", "address": f"127.0.0.1:{srv.port}", "model": "sub0", "feature_size": 16,
                 "token_file": "token", "tls": {"ca": str(certs / "ca.pem"), "cert": str(certs / "client.pem"),
                                                "key": str(certs / "client.key")}}
        cfg = parse_cluster_config({"deadline_ms": 3000, "boards": [board]}, "tls.yaml", tmp_path)
        with Cluster(cfg, probe=False) as cluster:
            res = cluster.infer(x)
            assert res.answered == ["b0"], res.to_dict(False)
            np.testing.assert_allclose(res.output, ref, rtol=1e-5, atol=1e-5)
        # no client certificate: the handshake fails, the board does not answer
        no_cert = dict(board, tls={"ca": str(certs / "ca.pem")})
        cfg = parse_cluster_config({"deadline_ms": 3000, "boards": [no_cert]}, "tls.yaml", tmp_path)
        with Cluster(cfg, probe=False) as cluster:
            res = cluster.infer(x)
            assert not res.ok and res.boards[0].error and "UNAVAILABLE" in res.boards[0].error
        # right certificate, no token
        no_token = {k: v for k, v in board.items() if k != "token_file"}
        cfg = parse_cluster_config({"deadline_ms": 3000, "boards": [no_token]}, "tls.yaml", tmp_path)
        with Cluster(cfg, probe=False) as cluster:
            res = cluster.infer(x)
            assert not res.ok and "UNAUTHENTICATED" in (res.boards[0].error or "")
        # and tritonclient with client cert + token
        client = tc.InferenceServerClient(f"127.0.0.1:{srv.port}", ssl=True, root_certificates=str(certs / "ca.pem"),
                                          private_key=str(certs / "client.key"),
                                          certificate_chain=str(certs / "client.pem"))
        res = triton_infer(client, x, headers=dict(bearer_metadata("tok-123")))
        np.testing.assert_allclose(res.as_numpy(FEATURES), ref, rtol=1e-5, atol=1e-5)
        client.close()
    finally:
        srv.stop(0.5)
    with pytest.raises(ConfigError, match="together"):
        ServerOptions(port=0, tls_cert=certs / "server.pem").validate()


def test_port_in_use_is_a_clear_error(server, model_file: Path) -> None:
    with pytest.raises(ConfigError, match="cannot listen"):
        start_server(load_served_model(model_file), ServerOptions(port=server.port))


def test_served_model_subclass_is_usable_directly() -> None:
    m = RandomProjectionModel("direct", (1, 2, 2), np.eye(4, dtype=np.float32), np.zeros(4, np.float32))
    out = m.infer(np.array([[[[128, 255], [0, 130]]]], dtype=np.uint8))
    np.testing.assert_allclose(out[FEATURES], [[0.0, 127 / 128, 0.0, 2 / 128]])
