import oslo_messaging
import pytest
from oslo_config import cfg
from oslo_messaging import conffixture

from oslo_messaging_zmq import options
from oslo_messaging_zmq.driver import (
    ZmqConfigError,
    ZmqDriver,
    ignored_credentials,
    proxy_endpoints,
)


def _conf():
    conf = cfg.ConfigOpts()
    conffixture.ConfFixture(conf).setUp()
    return conf


def test_list_opts_entry_point_shape():
    ((group, opts),) = options.list_opts()
    names = {o.name for o in opts}
    assert group == "oslo_messaging_zmq"
    assert {"security_mode", "client_secret_key_file", "server_public_key_file"} <= names
    assert next(o for o in opts if o.name == "security_mode").default == "curve"
    ((pgroup, popts),) = options.list_proxy_opts()
    assert pgroup == "zmq_proxy" and {"port", "health_port", "hold_ttl"} <= {o.name for o in popts}


def test_proxy_endpoints_from_url():
    conf = _conf()
    # IPv6 literals first: Pythons with the CVE-2025-0938 fix (3.11.12+, 3.12.10+, 3.13.3+,
    # Debian 12's and 13's) reject a bracketed host after a plain one in urllib, so in
    # oslo.messaging's TransportURL.parse.
    url = oslo_messaging.TransportURL.parse(conf, "zmq://[::1]:7001,p1:7000,p2,[::2]/")
    assert proxy_endpoints(url, 9501) == [
        "tcp://[::1]:7001",
        "tcp://p1:7000",
        "tcp://p2:9501",
        "tcp://[::2]:9501",
    ]
    assert proxy_endpoints(oslo_messaging.TransportURL.parse(conf, "zmq://"), 9501) == [
        "tcp://127.0.0.1:9501"
    ]


def test_credentials_in_the_url_are_ignored_with_a_warning(caplog):
    """OpenStack-Ansible's URL form works on zmq://: user:password@host:port,..., a vhost and
    its TLS query (?ssl=0, or ?ssl=1&ssl_version=..&ssl_ca_file=..)."""
    conf = _conf()
    text = (
        "zmq://nova:s3cr%2Ft@ctl1:9501,nova:s3cr%2Ft@ctl2:9501//nova"
        "?security_mode=plain&ssl=1&ssl_version=TLSv1_2&ssl_ca_file=/etc/ssl/ca.pem"
    )
    url = oslo_messaging.TransportURL.parse(conf, text)
    assert proxy_endpoints(url, 9501) == ["tcp://ctl1:9501", "tcp://ctl2:9501"]
    assert ignored_credentials(url) == ["ctl1:9501", "ctl2:9501"]
    with caplog.at_level("WARNING", logger="oslo_messaging_zmq.driver"):
        driver = ZmqDriver(conf, url)
    try:
        assert driver._vhost == "nova"
        warned = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
        assert any("ctl1:9501, ctl2:9501" in w for w in warned), warned
        assert any("ssl, ssl_ca_file, ssl_version ignored" in w for w in warned), warned
        assert driver._opts.security_mode == "plain"  # the other query keys still apply
        assert "s3cr" not in caplog.text
    finally:
        driver.cleanup()
    # The collection's own URL names a user without a password: nothing to warn about.
    own = oslo_messaging.TransportURL.parse(conf, "zmq://zmq@ctl1:9501,zmq@ctl2:9501/")
    assert ignored_credentials(own) == []


def test_url_query_overrides_options():
    conf = _conf()
    url = oslo_messaging.TransportURL.parse(
        conf, "zmq://127.0.0.1:1/?security_mode=plain&ack_timeout=0.5"
    )
    driver = ZmqDriver(conf, url)
    assert driver._opts.security_mode == "plain"
    assert driver._opts.ack_timeout == 0.5
    assert conf.oslo_messaging_zmq.ack_timeout == 3.0  # the file/CLI value is untouched
    driver.cleanup()


def test_environment_aid_for_unparsed_config(monkeypatch):
    """The oslo suite runner's test aid (driver/tests/zmq_env.py), not production code."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "zmq_env.py")
    spec = importlib.util.spec_from_file_location("zmq_env", path)
    zmq_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zmq_env)
    from oslo_messaging_zmq import options

    monkeypatch.setattr(options, "register", options.register)
    zmq_env.install()
    monkeypatch.setenv("OS_OSLO_MESSAGING_ZMQ__SECURITY_MODE", "plain")
    monkeypatch.setenv("OS_OSLO_MESSAGING_ZMQ__HEARTBEAT_INTERVAL", "0.5")
    conf = _conf()
    driver = ZmqDriver(conf, oslo_messaging.TransportURL.parse(conf, "zmq://127.0.0.1:1/"))
    assert driver._opts.security_mode == "plain"
    assert driver._opts.heartbeat_interval == 0.5
    driver.cleanup()


def test_curve_is_default_and_needs_keys():
    conf = _conf()
    with pytest.raises(ZmqConfigError, match="client_secret_key_file"):
        ZmqDriver(conf, oslo_messaging.TransportURL.parse(conf, "zmq://127.0.0.1:1/"))


def test_requeue_not_supported():
    conf = _conf()
    url = oslo_messaging.TransportURL.parse(conf, "zmq://127.0.0.1:1/?security_mode=plain")
    driver = ZmqDriver(conf, url)
    driver.require_features(requeue=False)
    with pytest.raises(NotImplementedError):
        driver.require_features(requeue=True)
    driver.cleanup()


def test_server_key_file_without_public_key_is_named(tmp_path):
    from oslo_messaging_zmq import security

    _public, secret = security.write_key_pair(str(tmp_path), "svc")
    only_secret = tmp_path / "proxy.key"
    text = open(secret).read()
    kept = [line for line in text.splitlines() if "public-key" not in line]
    only_secret.write_text("\n".join(kept))
    conf = _conf()
    url = oslo_messaging.TransportURL.parse(
        conf,
        "zmq://127.0.0.1:1/?client_secret_key_file=%s&server_public_key_file=%s"
        % (secret, only_secret),
    )
    with pytest.raises(ZmqConfigError, match="holds no public key: server_public_key_file"):
        ZmqDriver(conf, url)
