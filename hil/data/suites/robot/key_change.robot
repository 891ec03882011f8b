*** Settings ***
Documentation       Key change token sets: accepted in either order, the key changes only when
...                 the set is complete, then the new key works and the old one is refused; an
...                 incomplete set does not survive a power cycle.
Resource            common.resource
Suite Setup         Open Rig    ${RIG}    defect=${DEFECT}    speed=${SPEED}    pool=${POOL}
...                 pool_tags=${POOL_TAGS}    lease_wait=${LEASE_WAIT}
Suite Teardown      Close Rig
Test Setup          Reset Meter


*** Test Cases ***
Key Change In Order
    [Documentation]    Sections 1, 2, ...: the key changes to KRN 2.
    [Tags]    req:KCT-SET    cost:key_changes=1,tokens=2
    Key Change To KRN 2 In Order    forward

Key Change In Reverse Order
    [Documentation]    The last section first: the meter must accept the set in any order.
    [Tags]    req:KCT-SET    cost:key_changes=1,tokens=2
    Key Change To KRN 2 In Order    reverse

Incomplete Key Change Set Leaves The Key Alone
    [Documentation]    Until the last section arrives, the old key stays in force.
    [Tags]    req:KCT-SET    cost:key_changes=1,tokens=2
    @{sections} =    Generate Key Change Tokens    krn=2
    FOR    ${section}    IN    @{sections}[:-1]
        Enter Token And Expect    ${section}    1st KCT    via=bulk
    END
    ${old} =    Generate Credit Token    2
    Enter Token And Expect    ${old}    Accept
    Enter Token And Expect    ${sections}[-1]    2nd KCT    via=bulk
    ${new} =    Generate Credit Token    2
    Enter Token And Expect    ${new}    Accept
    Meter State Should Conform

Partial Key Change Is Lost On Power Cycle
    [Documentation]    A power cycle forgets the sections entered so far (fast profile).
    [Tags]    req:KCT-POWER    cost:key_changes=1,power_cycles=1,tokens=1
    Require Rig Feature    power_control
    @{sections} =    Generate Key Change Tokens    krn=2
    Enter Token And Expect    ${sections}[0]    1st KCT    via=bulk
    Power Cycle Meter
    FOR    ${section}    IN    @{sections}[1:]
        Enter Token And Expect    ${section}    1st KCT    via=bulk
    END
    ${old} =    Generate Credit Token    2
    Enter Token And Expect    ${old}    Accept
    Meter Info Should Match    krn=1
    Meter State Should Conform


*** Keywords ***
Key Change To KRN 2 In Order
    [Documentation]    Changes the key to KRN 2 entering the sections in ${order}, then checks
    ...    that a token under the new key is accepted and one under the old key refused.
    [Arguments]    ${order}
    @{sections} =    Generate Key Change Tokens    krn=2    order=${order}
    Key Change Set Is Accepted    @{sections}
    Meter Info Should Match    krn=2
    ${new} =    Generate Credit Token    2    key=new
    Enter Token And Expect    ${new}    Accept
    ${old} =    Generate Credit Token    2    key=old
    Enter Token And Expect    ${old}    CRC
    Credit Should Be    2
    Meter State Should Conform
