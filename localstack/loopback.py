"""Runs LocalStack's host runtime with its gateway on loopback only (scripts/localstack-host.sh).

LocalStack 4.14's default gateway server (twisted) opens IPv4 listeners without an interface, so it listens on 0.0.0.0
whatever GATEWAY_LISTEN says (localstack/runtime/server/twisted.py: "TODO: interface = host?"). The host runner only
ever listens on 127.0.0.1, so that becomes the default interface of every IPv4 listener. (GATEWAY_SERVER=hypercorn
binds the address, but leaves a client that is still sending a body LocalStack has refused hanging.)

With lambda among the services (SERVICES), it also applies lambda_without_runtime.py, in this same process, before
LocalStack starts: functions are created without Docker.
"""
import os
import runpy
import sys

from twisted.internet import endpoints

_init = endpoints.TCP4ServerEndpoint.__init__


def _loopback_init(self, reactor, port, backlog=50, interface="127.0.0.1"):
    _init(self, reactor, port, backlog, interface)


endpoints.TCP4ServerEndpoint.__init__ = _loopback_init

if "lambda" in os.environ.get("SERVICES", "").split(","):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import lambda_without_runtime

    lambda_without_runtime.apply()
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
