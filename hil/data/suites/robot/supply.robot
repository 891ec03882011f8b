*** Settings ***
Documentation       Supply control: the load relay opens when the credit runs out under load
...                 and closes on new credit, and opens above the maximum power limit. The
...                 DMM on the load side confirms what the meter reports.
Resource            common.resource
Suite Setup         Open Rig    ${RIG}    defect=${DEFECT}    speed=${SPEED}    pool=${POOL}
...                 pool_tags=${POOL_TAGS}    lease_wait=${LEASE_WAIT}
Suite Teardown      Close Rig
Test Setup          Reset Meter


*** Test Cases ***
Relay Opens At Zero Credit And Closes On New Credit
    [Documentation]    0.1 kWh under the largest load the rig declares (capabilities.load_max_w)
    ...    lasts energy / power: 100 s at 3600 W. The wait comes from that figure and the
    ...    meter's metering error, never from a simulator's clock.
    [Tags]    req:RELAY-ZERO-CREDIT    req:RELAY-NEW-CREDIT    cost:tokens=2,credit_out_kwh=0.1
    ...       long
    Require Rig Feature    load_control    relay_sensing
    ${credit} =    Generate Credit Token    0.1
    Enter Token And Expect    ${credit}    Accept
    Relay Should Be Closed
    Relay Should Be Sensed Closed
    Run Credit Out
    Meter State Should Conform    credit exhausted under load
    Relay Should Be Open    reason=credit
    Relay Should Be Sensed Open
    Set Load    0
    ${more} =    Generate Credit Token    1
    Enter Token And Expect    ${more}    Accept
    Relay Should Be Closed
    Relay Should Be Sensed Closed
    Meter State Should Conform

Relay Opens Above The Maximum Power Limit
    [Documentation]    With a 1000 W limit, a 2000 W load opens the relay.
    [Tags]    req:MPL    cost:tokens=2
    Require Rig Feature    load_control    relay_sensing
    ${credit} =    Generate Credit Token    100
    Enter Token And Expect    ${credit}    Accept
    ${limit} =    Generate Power Limit Token    1000
    Enter Token And Expect    ${limit}    Accept
    Set Load    2000
    Wait For Relay    open
    Meter State Should Conform    with 2000 W against a 1000 W limit
    Relay Should Be Open    reason=power_limit
    Relay Should Be Sensed Open
