*** Settings ***
Documentation       Authentication: a token for another meter, supply group, tariff index, key
...                 revision or vending key, or with a digit mistyped or two swapped, fails
...                 its CRC under the meter's key and is refused without changing anything.
Resource            common.resource
Suite Setup         Open Rig    ${RIG}    defect=${DEFECT}    speed=${SPEED}    pool=${POOL}
...                 pool_tags=${POOL_TAGS}    lease_wait=${LEASE_WAIT}
Suite Teardown      Close Rig
Test Setup          Reset Meter
Test Template       Token From ${generator} Is Refused With CRC
Test Tags           req:AUTH-CRC    cost:tokens=1


*** Test Cases ***                      GENERATOR
Token For Another Meter Is Refused      Generate Wrong Meter Token
Token For Another Supply Group Is Refused    Generate Wrong SGC Token
Token For Another Tariff Index Is Refused    Generate Wrong TI Token
Token For Another Key Revision Is Refused    Generate Wrong KRN Token
Token Under Another Vending Key Is Refused    Generate Wrong Vending Key Token
Mistyped Token Is Refused               Generate Mistyped Token
Token With Swapped Digits Is Refused    Generate Swapped Token


*** Keywords ***
Token From ${generator} Is Refused With CRC
    [Documentation]    Builds a token with ${generator}, enters it on the keypad and checks
    ...    that the meter answers CRC and keeps its state.
    ${token} =    Run Keyword    ${generator}
    Enter Token And Expect    ${token}    CRC
    Credit Should Be    0
    Relay Should Be Open
    Meter State Should Conform
