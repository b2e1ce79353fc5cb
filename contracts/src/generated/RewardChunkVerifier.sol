// SPDX-License-Identifier: GPL-3.0
/*
    Copyright 2021 0KIMS association.

    This file is generated with [snarkJS](https://github.com/iden3/snarkjs).

    snarkJS is a free software: you can redistribute it and/or modify it
    under the terms of the GNU General Public License as published by
    the Free Software Foundation, either version 3 of the License, or
    (at your option) any later version.

    snarkJS is distributed in the hope that it will be useful, but WITHOUT
    ANY WARRANTY; without even the implied warranty of MERCHANTABILITY
    or FITNESS FOR A PARTICULAR PURPOSE. See the GNU General Public
    License for more details.

    You should have received a copy of the GNU General Public License
    along with snarkJS. If not, see <https://www.gnu.org/licenses/>.
*/

pragma solidity 0.8.37;

contract RewardChunkVerifier {
    // Scalar field size
    uint256 constant r    = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    // Base field size
    uint256 constant q   = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    // Verification Key data
    uint256 constant alphax  = 3917628201778468979698847715885194211822683552039825494104720034763173819827;
    uint256 constant alphay  = 19730991151436704403828624548458002528047291024086662610174573883967813652986;
    uint256 constant betax1  = 1455509975687803719151580616286124396436771798838562204647978966332313561747;
    uint256 constant betax2  = 5476985429440078337241235783748548453800929413712841853621868360527871930454;
    uint256 constant betay1  = 4812791805985947200345437878840623200847071515103286567613504575923290143129;
    uint256 constant betay2  = 11909873953735914913968759137833397144799381999157506038068358633711294789678;
    uint256 constant gammax1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 constant gammax2 = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 constant gammay1 = 4082367875863433681332203403145435568316851327593401208105741076214120093531;
    uint256 constant gammay2 = 8495653923123431417604973247489272438418190587263600148770280649306958101930;
    uint256 constant deltax1 = 506994749619387398098646547642367060643684156872456227245978796439033812487;
    uint256 constant deltax2 = 2454587570273654111691761857531913407139157475073153058096974327249347310568;
    uint256 constant deltay1 = 3254133836481871306693172722367305532330534313755206507560966806246969334666;
    uint256 constant deltay2 = 16722188266701103826427159418684342539487173024739173439586986301894387254290;

    
    uint256 constant IC0x = 2648208628718687116394412325947220501492427638367752078826810184423732896518;
    uint256 constant IC0y = 12152287756985991072894103162997746243855249280123895276258359441129720479827;
    
    uint256 constant IC1x = 18799102910606638653957654176117007709324141751820324531763900529622589737045;
    uint256 constant IC1y = 10599298202920825637102271639286451357701713094738704087022108539030963945358;
    
    uint256 constant IC2x = 8872134944201363242665879024472635114556641533233377769808316682072483203229;
    uint256 constant IC2y = 12044040141251868538326096699468757833279784542402338798361365564079556435128;
    
    uint256 constant IC3x = 19314303296950744845658260158237678882150535587339341378413153162329019481856;
    uint256 constant IC3y = 16560868616334254696489613143144828183372995099546914213170207872494842382749;
    
    uint256 constant IC4x = 9170060388750064585155309487725536314312258448991562475407937207816025710304;
    uint256 constant IC4y = 9721268565077408629522574895115364196028678667834684225453295090212666396924;
    
    uint256 constant IC5x = 15741323596619722031810782879014522431613171884499933716335427520450801851472;
    uint256 constant IC5y = 6535394978764492053639919615786742328027768889640043588154427105127948658635;
    
    uint256 constant IC6x = 2327484309116295353373485180048603297072602554118624956732809207751847786397;
    uint256 constant IC6y = 14415774464849536912639539669521591649837388099955589138794363961017659434187;
    
    uint256 constant IC7x = 11233939267160604947338361362983655129372702998268956043370626174974443809556;
    uint256 constant IC7y = 5344399933083595836501000479469360918966620877292650600657063434972669562630;
    
    uint256 constant IC8x = 19717198740665565466285217101645300942406450580922119343975262899971979489533;
    uint256 constant IC8y = 10023561811678721253722731158493210213501514421080438726361683069566111614399;
    
    uint256 constant IC9x = 1260267897133799590076819689008795920239662309320375452318215690496693136378;
    uint256 constant IC9y = 15215855286329319842884484349873406499914217241939939966154170417564953940042;
    
 
    // Memory data
    uint16 constant pVk = 0;
    uint16 constant pPairing = 128;

    uint16 constant pLastMem = 896;

    function verifyProof(uint[2] calldata _pA, uint[2][2] calldata _pB, uint[2] calldata _pC, uint[9] calldata _pubSignals) public view returns (bool) {
        assembly {
            function checkField(v) {
                if iszero(lt(v, r)) {
                    mstore(0, 0)
                    return(0, 0x20)
                }
            }
            
            // G1 function to multiply a G1 value(x,y) to value in an address
            function g1_mulAccC(pR, x, y, s) {
                let success
                let mIn := mload(0x40)
                mstore(mIn, x)
                mstore(add(mIn, 32), y)
                mstore(add(mIn, 64), s)

                success := staticcall(sub(gas(), 2000), 7, mIn, 96, mIn, 64)

                if iszero(success) {
                    mstore(0, 0)
                    return(0, 0x20)
                }

                mstore(add(mIn, 64), mload(pR))
                mstore(add(mIn, 96), mload(add(pR, 32)))

                success := staticcall(sub(gas(), 2000), 6, mIn, 128, pR, 64)

                if iszero(success) {
                    mstore(0, 0)
                    return(0, 0x20)
                }
            }

            function checkPairing(pA, pB, pC, pubSignals, pMem) -> isOk {
                let _pPairing := add(pMem, pPairing)
                let _pVk := add(pMem, pVk)

                mstore(_pVk, IC0x)
                mstore(add(_pVk, 32), IC0y)

                // Compute the linear combination vk_x
                
                g1_mulAccC(_pVk, IC1x, IC1y, calldataload(add(pubSignals, 0)))
                
                g1_mulAccC(_pVk, IC2x, IC2y, calldataload(add(pubSignals, 32)))
                
                g1_mulAccC(_pVk, IC3x, IC3y, calldataload(add(pubSignals, 64)))
                
                g1_mulAccC(_pVk, IC4x, IC4y, calldataload(add(pubSignals, 96)))
                
                g1_mulAccC(_pVk, IC5x, IC5y, calldataload(add(pubSignals, 128)))
                
                g1_mulAccC(_pVk, IC6x, IC6y, calldataload(add(pubSignals, 160)))
                
                g1_mulAccC(_pVk, IC7x, IC7y, calldataload(add(pubSignals, 192)))
                
                g1_mulAccC(_pVk, IC8x, IC8y, calldataload(add(pubSignals, 224)))
                
                g1_mulAccC(_pVk, IC9x, IC9y, calldataload(add(pubSignals, 256)))
                

                // -A
                mstore(_pPairing, calldataload(pA))
                mstore(add(_pPairing, 32), mod(sub(q, calldataload(add(pA, 32))), q))

                // B
                mstore(add(_pPairing, 64), calldataload(pB))
                mstore(add(_pPairing, 96), calldataload(add(pB, 32)))
                mstore(add(_pPairing, 128), calldataload(add(pB, 64)))
                mstore(add(_pPairing, 160), calldataload(add(pB, 96)))

                // alpha1
                mstore(add(_pPairing, 192), alphax)
                mstore(add(_pPairing, 224), alphay)

                // beta2
                mstore(add(_pPairing, 256), betax1)
                mstore(add(_pPairing, 288), betax2)
                mstore(add(_pPairing, 320), betay1)
                mstore(add(_pPairing, 352), betay2)

                // vk_x
                mstore(add(_pPairing, 384), mload(add(pMem, pVk)))
                mstore(add(_pPairing, 416), mload(add(pMem, add(pVk, 32))))


                // gamma2
                mstore(add(_pPairing, 448), gammax1)
                mstore(add(_pPairing, 480), gammax2)
                mstore(add(_pPairing, 512), gammay1)
                mstore(add(_pPairing, 544), gammay2)

                // C
                mstore(add(_pPairing, 576), calldataload(pC))
                mstore(add(_pPairing, 608), calldataload(add(pC, 32)))

                // delta2
                mstore(add(_pPairing, 640), deltax1)
                mstore(add(_pPairing, 672), deltax2)
                mstore(add(_pPairing, 704), deltay1)
                mstore(add(_pPairing, 736), deltay2)


                let success := staticcall(sub(gas(), 2000), 8, _pPairing, 768, _pPairing, 0x20)

                isOk := and(success, mload(_pPairing))
            }

            let pMem := mload(0x40)
            mstore(0x40, add(pMem, pLastMem))

            // Validate that all evaluations ∈ F
            
            checkField(calldataload(add(_pubSignals, 0)))
            
            checkField(calldataload(add(_pubSignals, 32)))
            
            checkField(calldataload(add(_pubSignals, 64)))
            
            checkField(calldataload(add(_pubSignals, 96)))
            
            checkField(calldataload(add(_pubSignals, 128)))
            
            checkField(calldataload(add(_pubSignals, 160)))
            
            checkField(calldataload(add(_pubSignals, 192)))
            
            checkField(calldataload(add(_pubSignals, 224)))
            
            checkField(calldataload(add(_pubSignals, 256)))
            

            // Validate all evaluations
            let isValid := checkPairing(_pA, _pB, _pC, _pubSignals, pMem)

            mstore(0, isValid)
             return(0, 0x20)
         }
     }
 }
