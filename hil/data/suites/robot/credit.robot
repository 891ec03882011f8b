*** Settings ***
Documentation       Credit transfer (class 0): acceptance, the amount encoding's boundaries,
...                 overflow, and replays (a token is accepted once).
Resource            common.resource
Suite Setup         Open Rig    ${RIG}    defect=${DEFECT}    speed=${SPEED}    pool=${POOL}
...                 pool_tags=${POOL_TAGS}    lease_wait=${LEASE_WAIT}
Suite Teardown      Close Rig
Test Setup          Reset Meter


*** Test Cases ***
Credit Token Is Accepted
    [Documentation]    A valid electricity credit token adds its amount and closes the relay.
    [Tags]    req:CREDIT-ACCEPT    cost:tokens=1
    ${token} =    Generate Credit Token    25.6
    Enter Token And Expect    ${token}    Accept
    Credit Should Be    25.6
    Credit Should Increase By    25.6
    Relay Should Be Closed
    Meter State Should Conform

Credit For A Register The Meter Lacks Is Refused
    [Documentation]    The meter has an electricity register only: water credit is Function.
    [Tags]    req:CREDIT-FUNCTION    cost:tokens=1
    ${token} =    Generate Credit Token    10    kind=1
    Enter Token And Expect    ${token}    Function
    Credit Should Be    0

Credit Amounts Decode Exactly At Every Exponent Boundary
    [Documentation]    Each side of every exponent boundary of the amount field; amounts
    ...    between steps round up, in the customer's favour. Entered by the bulk path.
    [Tags]    req:AMOUNT-ENCODING    req:CREDIT-ACCEPT    cost:bulk=8
    [Template]    Credit Of ${kwh} kWh Adds ${added} kWh
    0.1         0.1
    1638.3      1638.3
    1638.4      1638.4
    2000        2000.4
    18022.3     18022.4
    18022.4     18022.4
    181862.3    181862.4
    181862.4    181862.4

Credit That Would Overflow The Register Is Refused
    [Documentation]    The register holds 999 999.9 kWh: the largest amount cannot fit on top.
    [Tags]    req:CREDIT-OVERFLOW    cost:bulk=2
    ${first} =    Generate Credit Token    181862.4
    Enter Token And Expect    ${first}    Accept    via=bulk
    ${too_much} =    Generate Credit Token    1820162.4
    Enter Token And Expect    ${too_much}    Overflow    via=bulk
    Credit Should Be    181862.4
    Meter State Should Conform

Replayed Token Is Used
    [Documentation]    Entering an accepted token again is refused as Used; credit is added once.
    [Tags]    req:TID-USED    cost:tokens=2
    ${token} =    Generate Credit Token    5
    Enter Token And Expect    ${token}    Accept
    ${replay} =    Generate Replay Of    ${token}
    Enter Token And Expect    ${replay}    Used
    Credit Should Be    5
    Meter State Should Conform


*** Keywords ***
Credit Of ${kwh} kWh Adds ${added} kWh
    [Documentation]    Enters a credit token for ${kwh} kWh and checks what it added.
    ${token} =    Generate Credit Token    ${kwh}
    Enter Token And Expect    ${token}    Accept    via=bulk
    Credit Should Increase By    ${added}
