"""The SOAP `login()` call of the partner API (`/services/Soap/u/{version}`).

Only login is served: several clients (simple-salesforce, the Data Loader style tools) still
log in with username + password + security token over SOAP and then use REST.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .state import OrgState

MAX_LOGIN_BODY = 64 * 1024
_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
             'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
             'xmlns="urn:partner.soap.sforce.com" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xmlns:sf="urn:fault.partner.soap.sforce.com">'
             '<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>')


def _fault(code: str, message: str, status: int = 500) -> Response:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode>"
            f"<faultstring>{code}: {escape(message)}</faultstring><detail>"
            f'<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}'
            f"</sf:exceptionCode><sf:exceptionMessage>{escape(message)}"
            "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>")
    return Response(_ENVELOPE.format(body=body), status, media_type="text/xml; charset=utf-8")


def _credentials(xml: bytes) -> tuple[str, str] | None:
    """(username, password) of a login request, or None if it is not one."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    username = password = None
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local == "username":
            username = element.text or ""
        elif local == "password":
            password = element.text or ""
    if username is None or password is None:
        return None
    return username, password


def soap_routes(state: OrgState) -> list[BaseRoute]:
    """The partner SOAP endpoint, answering `login` only."""

    async def soap(request: Request) -> Response:
        version = request.path_params["version"]
        if version not in state.config.api_versions:
            return _fault("UNSUPPORTED_API_VERSION",
                          f"Invalid Api version specified on URL: {version}")
        body = await request.body()
        if len(body) > MAX_LOGIN_BODY:
            return _fault("INVALID_LOGIN", "Request too large")
        credentials = _credentials(body)
        if credentials is None:
            return _fault("INVALID_SESSION_ID",
                          "Only the login call is available on this endpoint")
        user = await run_in_threadpool(state.auth.check_password, *credentials)
        if user is None:
            return _fault("INVALID_LOGIN",
                          "Invalid username, password, security token; or user locked out.")
        user_id, username = user
        session_id, _ = state.auth.issue_access_token(state.org_id, username, user_id,
                                                      "soap-login", "api web")
        base = state.instance_url
        org = state.org_id
        result = (
            "<loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org[:15]}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{org[:15]}</serverUrl>"
            f"<sessionId>{escape(session_id)}</sessionId><userId>{user_id}</userId>"
            "<userInfo><currencySymbol>$</currencySymbol>"
            f"<organizationId>{org}</organizationId><organizationName>sfbulk devorg"
            "</organizationName><userDefaultCurrencyIsoCode xsi:nil=\"true\"/>"
            f"<userEmail>{escape(username)}</userEmail><userFullName>{escape(username)}"
            f"</userFullName><userId>{user_id}</userId><userLanguage>en_US</userLanguage>"
            f"<userLocale>en_US</userLocale><userName>{escape(username)}</userName>"
            "<userTimeZone>GMT</userTimeZone><userType>Standard</userType></userInfo>"
            "</result></loginResponse>")
        return Response(_ENVELOPE.format(body=result), 200,
                        media_type="text/xml; charset=utf-8")

    return [Route("/services/Soap/u/{version}", soap, methods=["POST"])]
