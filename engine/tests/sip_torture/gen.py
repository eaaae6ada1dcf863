#!/usr/bin/env python3
# Regenerates the RFC 4475 / RFC 5118 fixture files (CRLF line ends, bytes as in the RFCs'
# message renderings; <hex>/<repeat> notation expanded). Run from this directory.
import os

SDP150 = ("v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.{a}\r\ns=-\r\nc=IN IP4 192.0.2.{b}\r\n"
          "t=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n")

def sdp(a, b):
    return SDP150.format(a=a, b=b)

def msg(lines, body=b""):
    head = "\r\n".join(lines) + "\r\n\r\n"
    if isinstance(body, str):
        body = body.encode()
    return head.encode("utf-8") + body

def w(kind, name, data):
    with open(os.path.join(kind, name + ".dat"), "wb") as f:
        f.write(data)

# ---------------------------------------------------------------- RFC 4475 3.1.1 valid
w("valid", "wsinv", msg([
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
    "TO :",
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
    "  ;",
    "  tag = 98asjd8",
    "MaX-fOrWaRdS: 0068",
    "Call-ID: wsinv.ndaksdj@192.0.2.1",
    "Content-Length   : 150",
    "cseq: 0009",
    "  INVITE",
    "Via  : SIP  /   2.0",
    " /UDP",
    "    192.0.2.2;branch=390skdjuw",
    "s :",
    "NewFangledHeader:   newfangled value",
    " continued newfangled value",
    "UnknownHeaderWithUnusualValue: ;;,,;;,;",
    "Content-Type: application/sdp",
    "Route:",
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
    "  branch  =   z9hG4bK9ikj8  ,",
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
    " z9hG4bK30239",
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
    "      newvalue ;",
    "  secondparam ; q = 0.33",
], sdp(3, 4)))

intmeth_head = (
    b"!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
    b"To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n"
    b"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\""
    + "работающий".encode() + b"\";tag=_token~1'+`*%!-.\r\n"
    b"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
    b"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"
    b"Max-Forwards: 255\r\n"
    b"extensionHeader-!.%*+_`'~:" + "\ufeff大停電".encode() + b"\r\n"
    b"Content-Length: 0\r\n\r\n")
w("valid", "intmeth", intmeth_head)

w("valid", "esc01", msg([
    "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
    "To: sip:%75se%72@example.com",
    "From: <sip:I%20have%20spaces@example.net>;tag=938",
    "Max-Forwards: 87",
    "i: esc01.239409asdfakjkn23onasd0-3234",
    "CSeq: 234234 INVITE",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
    "C: application/sdp",
    "Contact:",
    "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
    "Content-Length: 150",
], sdp(1, 1)))

w("valid", "escnull", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:null-%00-null@example.com",
    "From: sip:null-%00-null@example.com;tag=839923423",
    "Max-Forwards: 70",
    "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
    "CSeq: 14398234 REGISTER",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    "Contact: <sip:%00@host5.example.com>",
    "Contact: <sip:%00%00@host5.example.com>",
    "L:0",
]))

w("valid", "esc02", msg([
    "RE%47IST%45R sip:registrar.example.com SIP/2.0",
    'To: "%Z%45" <sip:resource@example.com>',
    'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
    "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
    "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209793",
    "Max-Forwards: 70",
    "Contact: <sip:alias1@host1.example.com>",
    "C%6Fntact: <sip:alias2@host2.example.com>",
    "Contact: <sip:alias3@host3.example.com>",
    "CSeq: 29344 RE%47IST%45R",
    "l: 0",
]))

w("valid", "lwsdisp", msg([
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: caller<sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID: lwsdisp.1234abcd@funky.example.com",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
]))

R = lambda s, n: s * n
longreq = [
    "INVITE sip:user@example.com SIP/2.0",
    'To: "I have a user name of ' + R("extreme", 10) + ' proportion"<sip:user@example.com:6000;unknownparam1=very'
    + R("long", 20) + "value;longparam" + R("name", 25) + "=shortvalue;very" + R("long", 25) + "ParameterNameWithNoValue>",
    "F: sip:" + R("amazinglylongcallername", 5) + "@example.net;tag=12" + R("982", 50) + "424;unknownheaderparam"
    + R("name", 20) + "=unknowheaderparam" + R("value", 15) + ";unknownValueless" + R("paramname", 10),
    "Call-ID: longreq.one" + R("really", 20) + "longcallid",
    "CSeq: 3882340 INVITE",
    "Unknown-" + R("Long", 20) + "-Name: unknown-" + R("long", 20) + "-value; unknown-" + R("long", 20)
    + "-parameter-name = unknown-" + R("long", 20) + "-parameter-value",
    "Via: SIP/2.0/TCP sip33.example.com",
    "v: SIP/2.0/TCP sip32.example.com",
    "V: SIP/2.0/TCP sip31.example.com",
    "Via: SIP/2.0/TCP sip30.example.com",
    "ViA: SIP/2.0/TCP sip29.example.com",
    "VIa: SIP/2.0/TCP sip28.example.com",
    "VIA: SIP/2.0/TCP sip27.example.com",
    "via: SIP/2.0/TCP sip26.example.com",
    "viA: SIP/2.0/TCP sip25.example.com",
    "vIa: SIP/2.0/TCP sip24.example.com",
    "vIA: SIP/2.0/TCP sip23.example.com",
    "V :  SIP/2.0/TCP sip22.example.com",
    "v :  SIP/2.0/TCP sip21.example.com",
    "V  : SIP/2.0/TCP sip20.example.com",
    "v  : SIP/2.0/TCP sip19.example.com",
    "Via : SIP/2.0/TCP sip18.example.com",
    "Via  : SIP/2.0/TCP sip17.example.com",
    "Via: SIP/2.0/TCP sip16.example.com",
    "Via: SIP/2.0/TCP sip15.example.com",
    "Via: SIP/2.0/TCP sip14.example.com",
    "Via: SIP/2.0/TCP sip13.example.com",
    "Via: SIP/2.0/TCP sip12.example.com",
    "Via: SIP/2.0/TCP sip11.example.com",
    "Via: SIP/2.0/TCP sip10.example.com",
    "Via: SIP/2.0/TCP sip9.example.com",
    "Via: SIP/2.0/TCP sip8.example.com",
    "Via: SIP/2.0/TCP sip7.example.com",
    "Via: SIP/2.0/TCP sip6.example.com",
    "Via: SIP/2.0/TCP sip5.example.com",
    "Via: SIP/2.0/TCP sip4.example.com",
    "Via: SIP/2.0/TCP sip3.example.com",
    "Via: SIP/2.0/TCP sip2.example.com",
    "Via: SIP/2.0/TCP sip1.example.com",
    "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very" + R("long", 50) + "branchvalue",
    "Max-Forwards: 70",
    "Contact: <sip:" + R("amazinglylongcallername", 5) + "@host5.example.net>",
    "Content-Type: application/sdp",
    "l: 150",
]
w("valid", "longreq", msg(longreq, sdp(1, 1)))

w("valid", "dblreq", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:j.user@example.com;tag=43251j3j324",
    "Max-Forwards: 8",
    "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
    "Contact: sip:j.user@host.example.com",
    "CSeq: 8 REGISTER",
    "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
    "Content-Length: 0",
]) + msg([
    "INVITE sip:joe@example.com SIP/2.0",
    "t: sip:joe@example.com",
    "From: sip:caller@example.net;tag=141334",
    "Max-Forwards: 8",
    "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
    "Content-Type: application/sdp",
    "Content-Length: 150",
], sdp(15, 15)))

w("valid", "semiuri", msg([
    "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
    "To: sip:j_user@example.com",
    "From: sip:caller@example.org;tag=33242",
    "Max-Forwards: 3",
    "Call-ID: semiuri.0ha0isndaksdj",
    "CSeq: 8 OPTIONS",
    "Accept: application/sdp, application/pkcs7-mime,",
    "        multipart/mixed, multipart/signed,",
    "        message/sip, message/sipfrag",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
    "l: 0",
]))

w("valid", "transports", msg([
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: <sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
    "Accept: application/sdp",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
    "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
    "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
    "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
    "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    "l: 0",
]))

# mpart01: the RFC's body carries a binary PKCS#7 signature; the fixture keeps the MIME
# structure and the exact length with deterministic binary octets (0x00..0xff cycled).
sig = bytes(i % 256 for i in range(252))
mbody = (b"--====boundary====\r\nContent-Type: application/sdp\r\n\r\n"
         + sdp(1, 1).encode() + b"\r\n--====boundary====\r\n"
         b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
         b"Content-Transfer-Encoding: binary\r\n"
         b"Content-Disposition: attachment; filename=smime.p7s; handling=required\r\n\r\n"
         + sig + b"\r\n--====boundary====--\r\n")
w("valid", "mpart01", msg([
    "MESSAGE sip:kumiko@example.org SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport",
    "Max-Forwards: 70",
    "Route: <sip:127.0.0.1:5080>",
    "Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuL3HnMyCSQG+X6nrGIC+jfC8S2jzhdBWQMzUiUVM5SoNs3NhJtFeHSxJ8W/7/vlXNSh8DJpWMbJCngQWKO2zIGD9Kd/BG0J1NFKmZS7CnJazjcrIYGW37uNtJaKP9NzBDYwGYU/9c9TiH7MVZhUEFtGJ0d+1dz4H8UUcCKb3ZHOD70Zyvr10qxpWCXB8hEZYDPDxd4hplLt4PjbvsvIxE4blHVrzc0dDm+g2ZyZ+pzNTUv8QZ/hbQl3KiyzJGNNRY2KY/YeyTV10ZmyVZo8dtQ+KQzyr5mR+CZMD8rZWlg==",
    "Identity-Info: <https://example.com/cert>;alg=rsa-sha1",
    "To: <sip:kumiko@example.org>",
    "From: <sip:bob@example.com>;tag=2fb0dcc9",
    "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
    "CSeq: 1 MESSAGE",
    "Content-Transfer-Encoding: binary",
    "Content-Type: multipart/mixed;boundary=\"====boundary====\"",
    "Date: Thu, 15 Mar 2007 08:23:24 GMT",
    "User-Agent: PolyCom",
    "Content-Length: %d" % len(mbody),
], mbody))

w("valid", "unreason", msg([
    "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
    "CSeq: 35 INVITE",
    "From: sip:user@example.com;tag=11141343",
    "To: sip:user@example.edu;tag=2229",
    "Content-Length: 154",
    "Content-Type: application/sdp",
    "Contact: <sip:user@host198.example.com>",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.198\r\ns=-\r\nc=IN IP4 192.0.2.198\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"))

w("valid", "noreason", msg([
    "SIP/2.0 100 ",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: noreason.asndj203insdf99223ndf",
    "CSeq: 35 INVITE",
    "From: <sip:user@example.com>;tag=39ansfi3",
    "To: <sip:user@example.edu>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:user@host105.example.com>",
]))

# ---------------------------------------------------------------- RFC 4475 3.1.2 invalid
w("invalid", "badinv01", msg([
    "INVITE sip:user@example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=134161461246",
    "Max-Forwards: 7",
    "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
    'Contact: "Joe" <sip:joe@example.org>;;;;',
    "Content-Length: 152",
    "Content-Type: application/sdp",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.15\r\ns=-\r\nc=IN IP4 192.0.2.15\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"))

w("invalid", "clerr", msg([
    "INVITE sip:user@example.com SIP/2.0",
    "Max-Forwards: 80",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=93942939o2",
    "Contact: <sip:caller@hungry.example.net>",
    "Call-ID: clerr.0ha0isndaksdjweiafasdk3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
    "Content-Type: application/sdp",
    "Content-Length: 9999",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.155\r\ns=-\r\nc=IN IP4 192.0.2.155\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"))

w("invalid", "ncl", msg([
    "INVITE sip:user@example.com SIP/2.0",
    "Max-Forwards: 254",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=32394234",
    "Call-ID: ncl.0ha0isndaksdj2193423r542w35",
    "CSeq: 0 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
    "Contact: <sip:caller@example53.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: -999",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.53\r\ns=-\r\nc=IN IP4 192.0.2.53\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"))

w("invalid", "scalar02", msg([
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
    "To: <sip:user@example.com>",
    "From: <sip:user@example.com>;tag=239232jh3",
    "CSeq: 36893488147419103232 REGISTER",
    "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
    "Max-Forwards: 300",
    "Expires: 1" + "0" * 100,
    "Contact: <sip:user@host129.example.com>",
    "  ;expires=280297596632815",
    "Content-Length: 0",
]))

w("invalid", "scalarlg", msg([
    "SIP/2.0 503 Service Unavailable",
    "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129",
    "To: <sip:user@example.com>",
    "From: <sip:other@example.net>;tag=2easdjfejw",
    "CSeq: 9292394834772304023312 OPTIONS",
    "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
    "Retry-After: 949302838503028349304023988",
    'Warning: 1812 overture "In Progress"',
    "Content-Length: 0",
]))

w("invalid", "quotbal", msg([
    "INVITE sip:user@example.com SIP/2.0",
    'To: "Mr. J. User <sip:j.user@example.com>',
    "From: sip:caller@example.net;tag=93334",
    "Max-Forwards: 10",
    "Call-ID: quotbal.aksdj",
    "Contact: <sip:caller@host59.example.net>",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
    "Content-Type: application/sdp",
    "Content-Length: 152",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.15\r\ns=-\r\nc=IN IP4 192.0.2.15\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"))

w("invalid", "ltgtruri", msg([
    "INVITE <sip:user@example.com> SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=39291",
    "Max-Forwards: 23",
    "Call-ID: ltgtruri.1@192.0.2.5",
    "CSeq: 1 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw",
    "Contact: <sip:caller@host5.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 159",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n" + " " * 9))

w("invalid", "lwsruri", msg([
    "INVITE sip:user@example.com; lr SIP/2.0",
    "To: sip:user@example.com;tag=3xfe-9921883-z9f",
    "From: sip:caller@example.net;tag=231413434",
    "Max-Forwards: 5",
    "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
    "CSeq: 2130706432 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
    "Contact: <sip:caller@host1.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 159",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n" + " " * 9))

w("invalid", "lwsstart", msg([
    "INVITE  sip:user@example.com  SIP/2.0",
    "Max-Forwards: 8",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=8814",
    "Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
    "CSeq: 1893884 INVITE",
    "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
    "Contact: <sip:caller@host1.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 150",
], sdp(1, 1)))

w("invalid", "trws", msg([
    "OPTIONS sip:remote-target@example.com SIP/2.0  ",
    "Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093",
    "To: <sip:remote-target@example.com>",
    "From: <sip:local-resource@example.com>;tag=329429089",
    "Call-ID: trws.oicu34958239neffasdhr2345r",
    "Accept: application/sdp",
    "CSeq: 238923 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
]))

w("invalid", "escruri", msg([
    "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=341518",
    "Max-Forwards: 7",
    "Contact: <sip:caller@host39923.example.net>",
    "Call-ID: escruri.23940-asdfhj-aje3br-234q098",
    "CSeq: 149209342 INVITE",
    "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
    "Content-Type: application/sdp",
    "Content-Length: 150",
], sdp(1, 1)))

w("invalid", "baddate", msg([
    "INVITE sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=2234923",
    "Max-Forwards: 70",
    "Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234",
    "CSeq: 1392934 INVITE",
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    "Date: Fri, 01 Jan 2010 16:00:00 EST",
    "Contact: <sip:caller@host5.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 150",
], sdp(5, 5)))

w("invalid", "regbadct", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:user@example.com;tag=998332",
    "Max-Forwards: 70",
    "Call-ID: regbadct.k345asrl3fdbv@10.0.0.1",
    "CSeq: 1 REGISTER",
    "Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw",
    "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
    "l: 0",
]))

w("invalid", "badaspec", msg([
    "OPTIONS sip:user@example.org SIP/2.0",
    "Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
    "Max-Forwards: 70",
    'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
    'To: "Watson, Thomas" < sip:t.watson@example.org >',
    "Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
    "Accept: application/sdp",
    "CSeq: 3923239 OPTIONS",
    "l: 0",
]))

w("invalid", "baddn", msg([
    "OPTIONS sip:t.watson@example.org SIP/2.0",
    "Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
    "Max-Forwards:      70",
    "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
    "To:      Watson, Thomas <sip:t.watson@example.org>",
    "Call-ID: baddn.31415@c.example.com",
    "Accept: application/sdp",
    "CSeq:    3923239 OPTIONS",
    "l: 0",
]))

w("invalid", "badvers", msg([
    "OPTIONS sip:t.watson@example.org SIP/7.0",
    "Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
    "Max-Forwards:     70",
    "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
    "To:      T. Watson <sip:t.watson@example.org>",
    "Call-ID: badvers.31417@c.example.com",
    "CSeq:    1 OPTIONS",
    "l: 0",
]))

w("invalid", "mismatch01", msg([
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=34525",
    "Max-Forwards: 6",
    "Call-ID: mismatch01.dj0234sxdfl3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
]))

w("invalid", "mismatch02", msg([
    "NEWMETHOD sip:user@example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=34525",
    "Max-Forwards: 6",
    "Call-ID: mismatch02.dj0234sxdfl3",
    "CSeq: 8 INVITE",
    "Contact: <sip:caller@host.example.net>",
    "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw",
    "Content-Type: application/sdp",
    "l: 138",
], "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"))

w("invalid", "bigcode", msg([
    "SIP/2.0 4294967301 better not break the receiver",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
    "CSeq: 353494 INVITE",
    "From: <sip:user@example.com>;tag=39ansfi3",
    "To: <sip:user@example.edu>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:user@host105.example.com>",
]))

# ---------------------------------------------------------------- RFC 5118
v6sdp = lambda addr: ("v=0\r\no=assistant 971731711378798081 0 IN IP6 " + addr + "\r\ns=Live video feed for today's meeting\r\n"
                      "c=IN IP6 " + addr + "\r\nt=3338481189 3370017201\r\nm=audio 6000 RTP/AVP 2\r\n"
                      "a=rtpmap:2 G726-32/8000\r\nm=video 6024 RTP/AVP 107\r\na=rtpmap:107 H263-1998/90000\r\n")

def reg(ruri, via_host, callid, extra=()):
    return msg([
        "REGISTER %s SIP/2.0" % ruri,
        "To: <sip:user@example.com>",
        "From: <sip:user@example.com>;tag=81x2",
        "Via: SIP/2.0/UDP %s;branch=z9hG4bKas3-111" % via_host,
        "Call-ID: %s" % callid,
        "Contact: \"Caller\" <sip:caller@[2001:db8::1]>",
        "Max-Forwards: 70",
        "CSeq: 98176 REGISTER",
        *extra,
        "Content-Length: 0",
    ])

w("valid", "ipv6-good", reg("sip:[2001:db8::10]", "[2001:db8::9:1]", "SSG9559905523997077@hlau_4100"))
w("invalid", "ipv6-bad", reg("sip:2001:db8::10", "[2001:db8::9:1]", "SSG9559905523997077@hlau_4100"))
w("valid", "port-ambiguous", reg("sip:[2001:db8::10:5070]", "[2001:db8::9:1]", "SSG9559905523997077@hlau_4100"))
w("valid", "port-unambiguous", reg("sip:[2001:db8::10]:5070", "[2001:db8::9:1]", "SSG9559905523997077@hlau_4100"))

w("valid", "via-received-param-with-delim", msg([
    "BYE sip:[2001:db8::10] SIP/2.0",
    "To: <sip:user@example.com>;tag=bd76ya",
    "From: <sip:user@example.com>;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111",
    "Call-ID: SSG9559905523997077@hlau_4100",
    "Max-Forwards: 70",
    "CSeq: 321 BYE",
    "Content-Length: 0",
]))
w("valid", "via-received-param-no-delim", msg([
    "OPTIONS sip:[2001:db8::10] SIP/2.0",
    "To: <sip:user@example.com>",
    "From: <sip:user@example.com>;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3",
    "Call-ID: SSG95523997077@hlau_4100",
    "Max-Forwards: 70",
    "Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>",
    "CSeq: 921 OPTIONS",
    "Content-Length: 0",
]))

body = v6sdp("2001:db8::20")
w("valid", "ipv6-in-sdp", msg([
    "INVITE sip:user@[2001:db8::10] SIP/2.0",
    "To: sip:user@[2001:db8::10]",
    "From: sip:user@example.com;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::20];branch=z9hG4bKas3-111",
    "Call-ID: SSG9559905523997077@hlau_4100",
    "Contact: \"Caller\" <sip:caller@[2001:db8::20]>",
    "CSeq: 8612 INVITE",
    "Max-Forwards: 70",
    "Content-Type: application/sdp",
    "Content-Length: %d" % len(body),
], body))

w("valid", "mult-ip-in-header", msg([
    "BYE sip:user@host.example.net SIP/2.0",
    "Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144",
    "Via: SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200",
    "Call-ID: 997077@lau_4100",
    "Max-Forwards: 70",
    "CSeq: 89187 BYE",
    "To: sip:user@example.net;tag=9817--94",
    "From: sip:user@example.com;tag=81x2",
    "Content-Length: 0",
]))

body = ("v=0\r\no=bob 280744730 28977631 IN IP4 host.example.com\r\ns=\r\nt=0 0\r\n"
        "m=audio 22334 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nm=video 6024 RTP/AVP 107\r\n"
        "c=IN IP6 2001:db8::1\r\na=rtpmap:107 H263-1998/90000\r\n")
w("valid", "mult-ip-in-sdp", msg([
    "INVITE sip:user@[2001:db8::10] SIP/2.0",
    "To: sip:user@[2001:db8::10]",
    "From: sip:user@example.com;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
    "Call-ID: SSG9559905523997077@hlau_4100",
    "Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>",
    "Max-Forwards: 70",
    "CSeq: 8912 INVITE",
    "Content-Type: application/sdp",
    "Content-Length: %d" % len(body),
], body))

body = ("v=0\r\no=vivekg 1983 2983 IN IP6 ::ffff:192.0.2.2\r\ns=Hello world\r\n"
        "c=IN IP6 ::ffff:192.0.2.2\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n")
w("valid", "ipv4-mapped-ipv6", msg([
    "INVITE sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:user@east.example.com;tag=81x2",
    "Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19",
    "Via: SIP/2.0/UDP [::ffff:192.0.2.2]:10820;branch=z9hG4bKbzxdiwo34sw",
    "Call-ID: SSG9559905523997077@hlau_4100",
    "Contact: <sip:user@[::ffff:192.0.2.2]:10820>",
    "Max-Forwards: 70",
    "CSeq: 19 INVITE",
    "Content-Type: application/sdp",
    "Content-Length: %d" % len(body),
], body))

def opts(ruri):
    return msg([
        "OPTIONS %s SIP/2.0" % ruri,
        "To: sip:user@example.com",
        "From: sip:user@east.example.com;tag=81x2",
        "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
        "Call-ID: SSG95523997077@hlau_4100",
        "Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>",
        "Max-Forwards: 70",
        "CSeq: 921 OPTIONS",
        "Content-Length: 0",
    ])
w("invalid", "ipv6-bug-abnf-3-colons", opts("sip:user@[2001:db8:::192.0.2.1]"))
w("valid", "ipv6-correct-abnf-2-colons", opts("sip:user@[2001:db8::192.0.2.1]"))
