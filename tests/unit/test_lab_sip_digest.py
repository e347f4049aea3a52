"""The lab's REGISTER client (tests/lab/sipclients.py) computes digest responses itself:
RFC 2617's worked example (section 3.5) holds it to the standard without a PBX."""

from __future__ import annotations

from tests.lab.sipclients import authorization, digest_params, digest_response

CHALLENGE = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
             'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
             'opaque="5ccc069c403ebaf9f0171e9517f40e41"')


def test_the_digest_response_is_rfc_2617s_worked_example() -> None:
    params = digest_params(CHALLENGE)
    assert params["realm"] == "testrealm@host.com" and params["qop"] == "auth,auth-int"
    response = digest_response(params, "GET", "/dir/index.html", "Mufasa", "Circle Of Life",
                               cnonce="0a4f113b")
    assert response == "6629fae49393a05397450978507c4ef1"


def test_the_authorization_answers_with_qop_auth_and_the_opaque_and_not_the_password() -> None:
    value = authorization(CHALLENGE, "REGISTER", "sip:10.0.0.1:5060", "201", "Circle Of Life")
    fields = digest_params(value)
    assert fields["qop"] == "auth" and fields["nc"] == "00000001" and fields["cnonce"]
    assert fields["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert fields["response"] == digest_response(
        digest_params(CHALLENGE), "REGISTER", "sip:10.0.0.1:5060", "201", "Circle Of Life",
        fields["cnonce"])
    assert "Circle" not in value
